/**
 * The offsite repository's own runs. The bucket's credentials live in the workers' environment only,
 * so the CLI reads and changes the bucket through these workflows: `offsite sync` (the catch-up after
 * an outage, serialized with backups and prunes by the backup lock), `list --offsite`,
 * `verify <set> --offsite` and `prune --offsite`.
 */
import { CancellationScope, isCancellation, patched, setCurrentDetails, workflowInfo } from '@temporalio/workflow';
import type { OffsitePruneResult, OffsiteSet, OffsiteSyncResult, OffsiteVerifyResult } from '../core/offsite';
import type { OffsitePruneInput, OffsiteSyncInput } from '../core/workflow-types';
import { audit, binding, onWorker, withSummary } from './activity-proxies';
import { withBackupLock } from './backup-lock';
import { reasonOf } from './failure-reasons';
import { recordRun } from './run-attributes';
import { checkStoresDeeply } from './verify';

/** Offsite verifications recorded before they ran the stores' deep checks replay without them. */
const OFFSITE_VERIFY_DEEP = 'offsite-verify-deep-checks';

/** Copies every local complete set of a worker that is missing or incomplete in the bucket, oldest first. */
export async function offsiteSyncWorkflow(input: OffsiteSyncInput): Promise<OffsiteSyncResult> {
  return withBackupLock('offsite sync', async () => {
    const worker = await withSummary(binding.bindRunToWorker, 'Bind the sync to a worker and its BACKUP_DIR')();
    const result = await withSummary(
      onWorker(worker.taskQueue).offsite.syncOffsite,
      `Copy every complete set of BACKUP_DIR that the bucket lacks to ${worker.offsiteUrl ?? 'the bucket'}`,
    )();
    setCurrentDetails(`Copied ${result.copied.length} sets; ${result.present.length} were already there (asked by ${input.requestedBy})`);
    return result;
  });
}

/** The sets in the bucket, complete or not, with sizes. */
export async function offsiteListWorkflow(): Promise<OffsiteSet[]> {
  const worker = await withSummary(binding.bindRunToWorker, 'Ask a worker for the bucket')();
  return withSummary(onWorker(worker.taskQueue).offsite.listOffsiteSets, `List the sets in ${worker.offsiteUrl ?? 'the bucket'}`)();
}

/**
 * Reads every object of an offsite set back against its SHA256SUMS into the worker's staging folder,
 * runs the stores' deep checks on that copy (as `verify --deep` does on a local set), and removes it.
 * An encrypted set's deep checks need its identity and a local copy: they are left to `verify --deep`
 * after `restore --from offsite --dry-run`.
 */
export async function offsiteVerifyWorkflow(input: { setName: string }): Promise<OffsiteVerifyResult> {
  const worker = await withSummary(binding.bindRunToWorker, 'Ask a worker for the bucket')();
  const on = onWorker(worker.taskQueue);
  recordRun({ set: input.setName });
  try {
    if (!patched(OFFSITE_VERIFY_DEEP)) {
      const result = await withSummary(on.offsite.verifyOffsiteSet, `Read every object of ${input.setName} back against SHA256SUMS`)(input);
      recordRun({ outcome: 'verified' });
      return result;
    }
    const { staged, ...readBack } = await withSummary(
      on.offsite.verifyOffsiteSet,
      `Read every object of ${input.setName} back against SHA256SUMS into the staging folder of BACKUP_DIR`,
    )({ setName: input.setName, stageForDeepCheck: true });
    let result: OffsiteVerifyResult = readBack;
    try {
      if (staged?.manifest.encryption) {
        result = { ...readBack, notChecked: [`the deep checks of the encrypted set ${readBack.set} need its identity: run \`restore ${readBack.set} --from offsite --dry-run\`, then \`verify ${readBack.set} --deep\``] };
      } else if (staged) {
        setCurrentDetails(`Deep checks of the copy of ${readBack.set} read back from the bucket`);
        result = { ...readBack, checks: await checkStoresDeeply({ name: readBack.set, manifest: staged.manifest }, { depth: 'all', location: 'staging', storeActivity: on.storeActivity }) };
      }
    } finally {
      await CancellationScope.nonCancellable(() =>
        withSummary(on.repository.discardStagedSet, `Remove the copy of ${readBack.set} read back for the deep checks`)({ setName: readBack.set }),
      );
    }
    recordRun({ outcome: 'verified' });
    return result;
  } catch (error) {
    recordRun({ outcome: isCancellation(error) ? 'cancelled' : 'failed' });
    throw error;
  }
}

/** Offsite retention by hand: every offsite set's decision; with `apply`, under the backup lock, audited. */
export async function offsitePruneWorkflow(input: OffsitePruneInput): Promise<OffsitePruneResult> {
  const worker = await withSummary(binding.bindRunToWorker, 'Ask a worker for the bucket')();
  const prune = () =>
    withSummary(
      onWorker(worker.taskQueue).offsite.applyOffsiteRetention,
      input.apply ? 'Delete the offsite sets the retention policy gives up' : 'Decide the retention of every offsite set; delete nothing',
    )({ tier: input.tier, apply: input.apply });
  if (!input.apply) return prune();
  let result: OffsitePruneResult | undefined;
  let reason: string | undefined;
  try {
    result = await withBackupLock('offsite prune', prune);
    recordRun({ outcome: 'pruned' });
    return result;
  } catch (error) {
    reason = reasonOf(error);
    recordRun({ outcome: isCancellation(error) ? 'cancelled' : 'failed' });
    throw error;
  } finally {
    await CancellationScope.nonCancellable(() =>
      withSummary(audit.recordAudit, 'Append the offsite prune to the audit log')({
        event: 'prune',
        at: workflowInfo().startTime.toISOString(),
        by: input.requestedBy,
        workflowId: workflowInfo().workflowId,
        stores: [],
        dryRun: false,
        outcome: result ? 'pruned offsite' : 'failed',
        reason,
        deleted: result?.deleted ?? [],
      }),
    );
  }
}
