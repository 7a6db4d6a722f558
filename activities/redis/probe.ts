import type { Config } from '../../core/config';
import { storeUrl } from '../../core/config';
import type { StoreProbe } from '../../core/contract';
import { describeRedisUrl, serverVersion, withTarget } from './connection';

export function probe(config: Config): Promise<StoreProbe> {
  return withTarget(config, async (target) => {
    const version = await serverVersion(target);
    return { serverVersion: version, details: [`Redis ${version} at ${describeRedisUrl(storeUrl(config, 'redis'))}`] };
  });
}
