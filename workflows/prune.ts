import { isCancellation, setCurrentDetails, workflowInfo, CancellationScope } from '@temporalio/workflow';
import type { PruneReport, PruneWorkflowInput } from '../core/workflow-types';
import { audit, repository, withSummary } from './activity-proxies';
import { withBackupLock } from './backup-lock';
import { reasonOf } from './failure-reasons';
import { notify } from './notify';
import { recordRun } from './run-attributes';

/**
 * Retention by hand (`scholaria-backup prune`): every set's decision and why. With `apply`, the sets
 * the policy gives up are deleted under the backup lock (never while a backup or another prune runs),
 * the deletion is audited, and sets kept past their retention are reported to people.
 */
export async function pruneWorkflow(input: PruneWorkflowInput): Promise<PruneReport> {
  const scope = input.tiers?.length ? ` (${input.tiers.join(', ')})` : '';
  const prune = () =>
    withSummary(
      repository.pruneBackupSets,
      input.apply ? `Delete the sets the retention policy gives up${scope}` : `Decide the retention of every set${scope}; delete nothing`,
    )({ tiers: input.tiers, apply: input.apply });
  if (!input.apply) {
    const report = await prune();
    recordRun({ outcome: 'dry run' });
    return report;
  }
  let report: PruneReport | undefined;
  let reason: string | undefined;
  try {
    report = await withBackupLock('prune', prune);
    const overdue = report.decisions.filter((decision) => decision.overdue);
    if (overdue.length > 0) {
      await notify({
        kind: 'prune',
        outcome: 'refused',
        title: `prune kept ${overdue.length} sets past their retention`,
        reason: 'no newer complete, verified set of their tier exists, so they remain the recovery points',
        details: overdue.map((decision) => `${decision.name}: ${decision.reason}`),
      });
    }
    recordRun({ outcome: 'pruned' });
    setCurrentDetails(`Deleted ${report.deleted.length} sets`);
    return report;
  } catch (error) {
    reason = isCancellation(error) ? 'the run was cancelled' : reasonOf(error);
    recordRun({ outcome: isCancellation(error) ? 'cancelled' : 'failed' });
    setCurrentDetails(`Failed: ${reason}`);
    throw error;
  } finally {
    await CancellationScope.nonCancellable(() =>
      withSummary(audit.recordAudit, 'Append the prune to the audit log')({
        event: 'prune',
        at: workflowInfo().startTime.toISOString(),
        by: input.requestedBy,
        workflowId: workflowInfo().workflowId,
        stores: [],
        dryRun: false,
        outcome: report ? 'pruned' : 'failed',
        reason,
        deleted: report?.deleted ?? [],
      }),
    );
  }
}
