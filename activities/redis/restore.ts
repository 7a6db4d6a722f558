import { join } from 'node:path';
import type { Config } from '../../core/config';
import type { StoreRestoreInput, StoreRestoreResult } from '../../core/contract';
import { summaryDifferences, totalOf } from '../../core/manifest';
import { setDirectory } from '../repository/sets';
import type { ProgressReporter } from '../heartbeat';
import { loadIntoTarget } from './load-into-target';
import { rdbFileOf } from './set-files';

/**
 * Online: the target replicates from the worker, which serves it the RDB; where the target refuses
 * that, the RDB is loaded into a private server and copied key by key into the flushed target.
 */
export async function restore(config: Config, input: StoreRestoreInput, progress: ProgressReporter): Promise<StoreRestoreResult> {
  const file = rdbFileOf(input.files);
  const storedPath = join(setDirectory(config.backupDir, input.setName, 'sealed'), file.name);
  const loaded = await loadIntoTarget(config, storedPath, input.restoreId, `${input.setName}-restore`, progress);
  if (loaded.loadedCounts) {
    const differences = summaryDifferences(input.summary, { unit: 'keys', counts: loaded.loadedCounts });
    if (differences.length > 0) throw new Error(`the target did not load every key of ${file.name}: ${differences.slice(0, 3).join('; ')}`);
  }
  const expired = totalOf(input.summary.counts) - totalOf(loaded.counts);
  return {
    details: [`${file.name} ${loaded.how}${expired > 0 ? `; ${expired} ${expired === 1 ? 'key' : 'keys'} had expired since the backup` : ''}`],
    expected: { unit: 'keys', counts: loaded.counts },
  };
}
