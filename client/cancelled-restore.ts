import type { WorkflowHandle } from '@temporalio/client';
import { CancelledFailure } from '@temporalio/common';
import { RESTORE_REPORT_QUERY, type RestoreWorkflowResult } from '../core/workflow-types';
import { rootFailure } from './failure-details';

/**
 * The per-store report of a restore that was cancelled: Temporal records a cancelled run without
 * details, so it is asked from the run itself (a query, answered by a worker replaying it).
 * Undefined when the run was not cancelled or no worker answers.
 */
export async function reportOfCancelledRestore(handle: WorkflowHandle, error: unknown): Promise<RestoreWorkflowResult | undefined> {
  if (!(rootFailure(error) instanceof CancelledFailure)) return undefined;
  try {
    return await handle.query<RestoreWorkflowResult>(RESTORE_REPORT_QUERY);
  } catch {
    return undefined;
  }
}
