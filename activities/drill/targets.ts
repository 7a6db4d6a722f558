import type { Config } from '../../core/config';
import type { StoreName } from '../../core/stores';

/** The configuration with the store pointed at its drill server (DRILL_<STORE>_URL) when one is set. */
export function drillConfig(config: Config, store: StoreName): Config {
  const url = config.drill.storeUrls[store];
  return url ? { ...config, storeUrls: { ...config.storeUrls, [store]: url } } : config;
}
