import { Context } from '@temporalio/activity';
import { backupLockId, LOCK_REQUEST_SIGNAL } from '../core/backup-lock';
import type { BackupLockActivities } from '../core/contract';

/** The request for the backup lock, through the worker's own client: workflows cannot `signalWithStart`. */
export function createBackupLockActivities(): BackupLockActivities {
  return {
    async requestBackupLock(request) {
      const { client, info } = Context.current();
      await client.workflow.signalWithStart('backupLockWorkflow', {
        workflowId: backupLockId(info.taskQueue),
        taskQueue: info.taskQueue,
        args: [{ waiting: [] }],
        signal: LOCK_REQUEST_SIGNAL,
        signalArgs: [request],
        staticSummary: 'backup lock: backups and prunes of this deployment, one at a time',
      });
    },
  };
}
