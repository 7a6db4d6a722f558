/**
 * Where a restore reads its set: every step on one worker (its own task queue), since the set's files
 * must be on that worker's disk. With `--from offsite`, or for `latest` on a worker whose BACKUP_DIR
 * holds no complete set, the set is first downloaded from the bucket (every object read back against
 * SHA256SUMS) into that worker's BACKUP_DIR, then resolved there like any local set.
 */
import { ApplicationFailure } from '@temporalio/workflow';
import type { ResolvedSet } from '../core/contract';
import type { RestoreWorkflowInput } from '../core/workflow-types';
import { binding, onWorker, withSummary, type RunActivities } from './activity-proxies';
import { failureTypeOf } from './failure-reasons';

export async function restoreOnOneWorker(
  input: Pick<RestoreWorkflowInput, 'reference' | 'from'>,
  describeLocal: string,
): Promise<{ on: RunActivities; resolve: () => Promise<ResolvedSet> }> {
  const worker = await withSummary(binding.bindRunToWorker, 'Bind the restore to the worker that will read the set')();
  const on = onWorker(worker.taskQueue);
  const resolveLocal = (reference: string, summary: string) => withSummary(on.repository.resolveBackupSet, summary)({ reference });
  const download = async (reference: string) => {
    if (!worker.offsiteUrl) {
      throw ApplicationFailure.nonRetryable(`the worker ${worker.taskQueue} has no offsite storage (BACKUP_OFFSITE_URL is not set)`, 'ConfigError');
    }
    const what = reference === 'latest' ? 'the newest complete set' : reference;
    const downloaded = await withSummary(
      on.offsite.downloadOffsiteSet,
      `Download ${what} from ${worker.offsiteUrl} into BACKUP_DIR, every object checked against SHA256SUMS`,
    )({ reference });
    return resolveLocal(downloaded.name, `Read the manifest of ${downloaded.name}, downloaded from ${worker.offsiteUrl}`);
  };
  const resolve = async (): Promise<ResolvedSet> => {
    if (input.from === 'offsite') return download(input.reference);
    try {
      return await resolveLocal(input.reference, describeLocal);
    } catch (error) {
      // A host that lost its disk (or a new one) restores `latest` from the bucket.
      if (input.reference === 'latest' && worker.offsiteUrl && failureTypeOf(error) === 'SetNotFound') return download('latest');
      throw error;
    }
  };
  return { on, resolve };
}
