import { CancellationScope, workflowInfo } from '@temporalio/workflow';
import type { AuditEntry } from '../core/audit';
import { audit, withSummary } from './activity-proxies';

/** An audit entry as a workflow gives it: `at` (the run's start) and `workflowId` (this run) are filled in. */
export type WorkflowAuditEntry = Omit<AuditEntry, 'at' | 'workflowId' | 'dryRun' | 'stores'> & Partial<Pick<AuditEntry, 'dryRun' | 'stores'>>;

/**
 * Appends `entry` to the audit log (core/audit.ts), even while the run is being cancelled. The API for
 * every workflow that reads or changes sets or stores (drills, offsite copies and deletions included).
 */
export async function recordAudit(entry: WorkflowAuditEntry): Promise<void> {
  const info = workflowInfo();
  await CancellationScope.nonCancellable(() =>
    withSummary(audit.recordAudit, `Append the ${entry.event}${entry.action ? ` ${entry.action}` : ''} to the audit log`)({
      at: info.startTime.toISOString(),
      workflowId: info.workflowId,
      dryRun: false,
      stores: [],
      ...entry,
    }),
  );
}

/** The audit entry of a CLI command that changes something outside workflows (`schedules pause`): written by the worker. */
export async function auditWorkflow(entry: AuditEntry): Promise<void> {
  await recordAudit(entry);
}
