/**
 * The backup lock (samples-typescript `mutex`): one workflow per task queue grants the lock to one run
 * at a time, by signal, in the order the runs started; the holder releases it by signal. It ends
 * after a minute without requests and continues as new when its history grows.
 */
import {
  CancellationScope,
  condition,
  continueAsNew,
  defineSignal,
  getExternalWorkflowHandle,
  log,
  setCurrentDetails,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';
import {
  backupLockId,
  enqueue,
  LOCK_GRANTED_SIGNAL,
  LOCK_RELEASE_SIGNAL,
  LOCK_REQUEST_SIGNAL,
  sameRun,
  type BackupLockState,
  type LockRelease,
  type LockRequest,
} from '../core/backup-lock';
import { lock } from './activity-proxies';

export const lockRequestSignal = defineSignal<[LockRequest]>(LOCK_REQUEST_SIGNAL);
export const lockGrantedSignal = defineSignal<[]>(LOCK_GRANTED_SIGNAL);
export const lockReleaseSignal = defineSignal<[LockRelease]>(LOCK_RELEASE_SIGNAL);

/** An idle lock ends after this; the next request starts it again. */
const IDLE = '1 minute';
/** Longer than any run may hold it: a holder that vanished without releasing (terminated) frees the lock then. */
const LEASE = '24 hours';

export async function backupLockWorkflow(state: BackupLockState = { waiting: [] }): Promise<void> {
  let holder = state.holder;
  let waiting = state.waiting;
  setHandler(lockRequestSignal, (request) => {
    if (!holder || !sameRun(holder, request)) waiting = enqueue(waiting, request);
  });
  setHandler(lockReleaseSignal, (release) => {
    if (holder && sameRun(holder, release)) holder = undefined;
    else waiting = waiting.filter((queued) => !sameRun(queued, release));
  });

  while (!workflowInfo().continueAsNewSuggested) {
    if (!holder) {
      const next = waiting.shift();
      if (!next) {
        setCurrentDetails('Free');
        if (!(await condition(() => waiting.length > 0, IDLE))) return;
        continue;
      }
      try {
        await getExternalWorkflowHandle(next.workflowId, next.runId).signal(lockGrantedSignal);
        holder = next;
      } catch {
        // The run ended while it waited: the next one gets the lock.
        log.info('lock not granted: the run has ended', { workflowId: next.workflowId });
        continue;
      }
    }
    const current = holder;
    setCurrentDetails(`Held by ${current.workflowId} (${current.purpose}); ${waiting.length} waiting${waiting.length ? `: ${waiting.map((queued) => queued.workflowId).join(', ')}` : ''}`);
    if (!(await condition(() => holder !== current, LEASE))) {
      log.warn('lock lease expired', { workflowId: current.workflowId });
      holder = undefined;
    }
  }
  await continueAsNew<typeof backupLockWorkflow>({ holder, waiting });
}

/**
 * Runs `work` while holding the backup lock of this run's task queue: asks for it, waits for the
 * grant, and releases it afterwards, also when the run fails or is cancelled (a cancellation while
 * waiting withdraws the request).
 */
export async function withBackupLock<T>(purpose: string, work: () => Promise<T>): Promise<T> {
  const { workflowId, runId, taskQueue, startTime } = workflowInfo();
  let granted = false;
  setHandler(lockGrantedSignal, () => {
    granted = true;
  });
  const release = () =>
    CancellationScope.nonCancellable(() => getExternalWorkflowHandle(backupLockId(taskQueue)).signal(lockReleaseSignal, { workflowId, runId }));
  try {
    setCurrentDetails('Waiting for the backup lock (earlier backups and prunes of this deployment run first)');
    await lock.requestBackupLock({ workflowId, runId, startedAt: startTime.toISOString(), purpose });
    await condition(() => granted);
  } catch (error) {
    await release().catch(() => undefined);
    throw error;
  }
  try {
    return await work();
  } finally {
    await release().catch((error: unknown) => log.warn('the backup lock could not be released; it frees itself when its lease ends', { error: String(error) }));
  }
}
