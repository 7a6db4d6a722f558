import type { Config } from '../../core/config';
import type { ContentSummary } from '../../core/manifest';
import { withTarget } from './connection';
import { keyCountsPerDatabase } from './local-server';

/** Keys per database that the live target holds. */
export function summarize(config: Config, signal?: AbortSignal): Promise<ContentSummary> {
  return withTarget(config, async (target) => ({ unit: 'keys', counts: await keyCountsPerDatabase(target) }), signal);
}
