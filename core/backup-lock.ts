/**
 * The lock that serializes backups (and prunes) of one deployment: one lock workflow per task queue
 * (samples-typescript `mutex`). A run asks for it with `signalWithStart` on the lock's workflow id,
 * waits for the grant signal, and releases it when done. Pure: shared by the lock workflow, the
 * runs that take it, and the activity that sends the request.
 */

/** Signal names; the workflows define their signals from these. */
export const LOCK_REQUEST_SIGNAL = 'requestBackupLock';
export const LOCK_GRANTED_SIGNAL = 'backupLockGranted';
export const LOCK_RELEASE_SIGNAL = 'releaseBackupLock';

export interface LockRequest {
  workflowId: string;
  runId: string;
  /** When the requesting run started: earlier runs are served first. */
  startedAt: string;
  /** One line for the Web UI, e.g. `daily backup`. */
  purpose: string;
}

export interface LockRelease {
  workflowId: string;
  runId: string;
}

/** What the lock carries across continue-as-new. */
export interface BackupLockState {
  holder?: LockRequest;
  waiting: LockRequest[];
}

/** The lock of the workers polling `taskQueue`: runs on other task queues (other deployments, test suites) do not wait for it. */
export function backupLockId(taskQueue: string): string {
  return `backup-lock-${taskQueue}`;
}

/** The queue with `request` added once, in the order the runs started (ties: by workflow id, so every lock decides alike). */
export function enqueue(waiting: readonly LockRequest[], request: LockRequest): LockRequest[] {
  if (waiting.some((queued) => sameRun(queued, request))) return [...waiting];
  return [...waiting, request].sort((a, b) => a.startedAt.localeCompare(b.startedAt) || a.workflowId.localeCompare(b.workflowId));
}

export function sameRun(a: LockRelease, b: LockRelease): boolean {
  return a.workflowId === b.workflowId && a.runId === b.runId;
}
