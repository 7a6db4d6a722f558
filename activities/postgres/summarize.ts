/** What the live target holds now: rows of every table on its own, in the manifest's units. */
import type { Config } from '../../core/config';
import type { ContentSummary } from '../../core/manifest';
import type { ProgressReporter } from '../heartbeat';
import { countRows, withClient } from './catalog';
import { postgresTarget } from './connection';

export async function summarize(config: Config, progress: ProgressReporter): Promise<ContentSummary> {
  progress.phase('counting rows');
  return { unit: 'rows', counts: await withClient(postgresTarget(config), countRows) };
}
