/** summarize: exact point counts of the live collections in scope. */
import type { Config } from '../../core/config';
import type { ContentSummary } from '../../core/manifest';
import type { ProgressReporter } from '../heartbeat';
import { exactCount, qdrantConnection } from './connection';
import { collectionsInScope } from './scope';

export async function summarize(config: Config, progress: ProgressReporter): Promise<ContentSummary> {
  const q = qdrantConnection(config);
  progress.phase('counting points');
  const counts: Record<string, number> = {};
  for (const name of await collectionsInScope(q, config, progress.signal, false)) counts[name] = await exactCount(q, name, progress.signal);
  return { unit: 'points', counts };
}
