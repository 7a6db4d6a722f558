/**
 * Activity proxies with their timeouts and retry policies, shared by the workflows, typed from the
 * activities' contract (`import type` only). Store verbs are reached through `byStore` (core), a table
 * from each store to its verbs' activities, so a new store adapter needs no workflow change.
 * Every call carries a summary that reads like the runbook step it is ("Dump PostgreSQL into
 * scholaria_backup_…", "Roll back Redis to its safety snapshot"); the Temporal Web UI shows it next
 * to the activity type in the run's history.
 */
import {
  ActivityCancellationType,
  ActivityFailure,
  patched,
  proxyActivities,
  TimeoutFailure,
  type ActivityFunctionWithOptions,
  type ActivityInterfaceFor,
  type ActivityOptions,
} from '@temporalio/workflow';
import type { ActivityFunction } from '@temporalio/common';
import {
  NON_RETRYABLE_FAILURES,
  type AuditActivities,
  type BackupLockActivities,
  type EncryptionActivities,
  type HealthActivities,
  type LegacyCoordinationActivities,
  type NotificationActivities,
  type OffsiteActivities,
  type RepositoryActivities, type StoreActivities, type StoreAdapter, type StoreVerb,
  type WorkerBindingActivities } from '../core/contract';
import { byStore } from '../core/store-activities';
import { STORE_LABELS, type StoreName } from '../core/stores';

const nonRetryableErrorTypes = [...NON_RETRYABLE_FAILURES];

/**
 * Short calls: a store that does not answer within a minute, three times, is reported as down. The
 * keep-alive heartbeat lets a worker killed in the middle be noticed within 15 s, not after the minute.
 */
const QUICK: ActivityOptions = {
  startToCloseTimeout: '1 minute',
  heartbeatTimeout: '15 seconds',
  retry: { maximumAttempts: 3, initialInterval: '1 second', backoffCoefficient: 2, nonRetryableErrorTypes },
};
const quick = proxyActivities<StoreActivities & RepositoryActivities & AuditActivities & HealthActivities & EncryptionActivities & WorkerBindingActivities>(QUICK);

/**
 * Long streaming work. The heartbeat timeout, not the hours-long ceiling, is what notices a dead
 * worker: its activity is retried on another worker within seconds. Attempts are bounded so a
 * broken store fails the run instead of retrying forever.
 */
const STREAMING: ActivityOptions = {
  startToCloseTimeout: '12 hours',
  heartbeatTimeout: '15 seconds',
  // A cancelled restore must have really stopped before its rollback starts, or the two would race.
  cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
  retry: {
    maximumAttempts: 3,
    initialInterval: '2 seconds',
    backoffCoefficient: 2,
    maximumInterval: '1 minute',
    nonRetryableErrorTypes,
  },
};
const streaming = proxyActivities<StoreActivities & RepositoryActivities & EncryptionActivities>(STREAMING);

/**
 * Housekeeping that may take minutes without progress to report: retention. The worker's keep-alive
 * heartbeats it (worker/activity-interceptor.ts), so a worker killed in the middle is noticed within
 * the heartbeat timeout, not after the ten minutes the run would otherwise wait.
 */
const HOUSEKEEPING: ActivityOptions = {
  startToCloseTimeout: '10 minutes',
  heartbeatTimeout: '30 seconds',
  retry: { maximumAttempts: 2, initialInterval: '5 seconds', nonRetryableErrorTypes },
};
const housekeeping = proxyActivities<RepositoryActivities>(HOUSEKEEPING);

/**
 * Uploads and downloads of whole sets: a 30 s heartbeat timeout, since a part in flight on a slow or
 * bandwidth-limited link reports progress less often; the checkpoint in the heartbeats makes the
 * retry resume where the dead attempt stopped.
 */
const TRANSFER: ActivityOptions = { ...STREAMING, heartbeatTimeout: '30 seconds' };

/**
 * Notifications retry inside, per channel (activities/notifications/retry.ts, honouring Retry-After):
 * one attempt here, or a channel that fails would be tried attempts × attempts times, and a channel
 * that worked would be sent again with the one that failed.
 */
const notifying = proxyActivities<NotificationActivities>({
  startToCloseTimeout: '2 minutes',
  retry: { maximumAttempts: 1 },
});

/** The queue of backups before the lock workflow; only replayed (see LegacyCoordinationActivities). */
const waiting = proxyActivities<LegacyCoordinationActivities>({
  startToCloseTimeout: '24 hours',
  heartbeatTimeout: '30 seconds',
  retry: { maximumAttempts: 5, initialInterval: '5 seconds', nonRetryableErrorTypes },
});

/** Asking for the backup lock: one signal, retried while the server is briefly away. */
export const lock = proxyActivities<BackupLockActivities>({
  startToCloseTimeout: '1 minute',
  retry: { maximumAttempts: 10, initialInterval: '1 second', maximumInterval: '10 seconds', nonRetryableErrorTypes },
});

/** A health check wants the answer now: one attempt, a short timeout. */
const once = proxyActivities<StoreActivities>({
  startToCloseTimeout: '30 seconds',
  retry: { maximumAttempts: 1 },
});

/** The runbook line of each store verb, given the store's label and the set it works on. */
const STORE_STEPS: { [V in StoreVerb]: (store: string, set: string) => string } = {
  probe: (store) => `Check that ${store} answers and can be backed up`,
  backup: (store, set) => `Dump ${store} into ${set}`,
  verify: (store, set) => `Read back the ${store} files of ${set} and count their content`,
  preflight: (store) => `Preflight ${store}: versions, free space, current content, the plan`,
  safetySnapshot: (store) => `Take a safety snapshot of ${store} before changing it`,
  stage: (store, set) => `Stage the ${store} restore from ${set} where it touches nothing live`,
  restore: (store, set) => `Restore ${store} from ${set}`,
  summarize: (store) => `Count what ${store} holds after the restore`,
  rollback: (store) => `Roll back ${store} to its safety snapshot`,
  release: (store) => `Drop the ${store} safety snapshot`,
};

/** A store's verbs as activity proxies. */
type StoreProxies = { [V in StoreVerb]: ActivityFunctionWithOptions<StoreAdapter[V]> };

const proxiesOf = (activities: ActivityInterfaceFor<StoreActivities>) => byStore<StoreProxies>(activities);
const quickStores = proxiesOf(quick);
const streamingStores = proxiesOf(streaming);
const onceStores = proxiesOf(once);

/**
 * The activity `<verb><Store>`, e.g. `backupPostgres`, called with the verb's runbook summary about
 * `set` (or `summary` when given).
 */
export function storeActivity<V extends StoreVerb>(verb: V, store: StoreName, context: { set?: string; summary?: string } = {}): StoreAdapter[V] {
  const activity: ActivityFunctionWithOptions<StoreAdapter[V]> = (verb === 'probe' ? quickStores : streamingStores)[store][verb];
  return withSummary(activity, context.summary ?? STORE_STEPS[verb](STORE_LABELS[store], context.set ?? 'the set'));
}

/** Who waits on a worker's own queue longer than this finds the worker gone: the run goes to another worker. */
export const WORKER_LOST_AFTER = '1 minute';

/** A step that waited on a worker's own task queue until its schedule-to-start timeout: that worker is gone. */
export function isWorkerLost(error: unknown): boolean {
  return error instanceof ActivityFailure && error.cause instanceof TimeoutFailure && error.cause.timeoutType === 'SCHEDULE_TO_START';
}

/** Runs recorded before a step whose task was lost was tried again replay without the question to the worker. */
const LOST_TASKS_TRIED_AGAIN = 'lost-tasks-tried-again';
/** How many times in all a step is scheduled while its worker still answers. */
const LOST_TASK_ATTEMPTS = 3;

/**
 * `step`, scheduled again when it timed out before it started while its worker still answers: a
 * Temporal server killed as it hands a task to the worker loses the task (a restore failed so in the
 * suite, its worker alive and polling). The worker is asked on its own queue; a worker that does not
 * answer either is lost, and that failure is thrown. Both ways of calling a step are covered.
 */
function triedAgainWhenTaskLost<F extends ActivityFunction>(step: ActivityFunctionWithOptions<F>, workerAnswers: () => Promise<unknown>): ActivityFunctionWithOptions<F> {
  const tried = async (options: ActivityOptions, args: Parameters<F>): Promise<Awaited<ReturnType<F>>> => {
    for (let attempt = 1; ; attempt += 1) {
      try {
        return await step.executeWithOptions(options, args);
      } catch (error) {
        if (!isWorkerLost(error) || attempt >= LOST_TASK_ATTEMPTS || !patched(LOST_TASKS_TRIED_AGAIN)) throw error;
        await workerAnswers();
      }
    }
  };
  return Object.assign((...args: Parameters<F>) => tried({}, args), { executeWithOptions: tried }) as ActivityFunctionWithOptions<F>;
}

/**
 * The activities of a run bound to one worker (its own task queue, activities/worker-binding.ts):
 * every step that reads or writes that worker's BACKUP_DIR. A step nobody picks up within
 * WORKER_LOST_AFTER, on a worker that does not answer either, fails with a schedule-to-start timeout,
 * which `isWorkerLost` recognizes.
 */
export function onWorker(taskQueue: string) {
  const pinned = (options: ActivityOptions): ActivityOptions => ({ ...options, taskQueue, scheduleToStartTimeout: WORKER_LOST_AFTER });
  const pinnedQuick = proxyActivities<StoreActivities & RepositoryActivities & OffsiteActivities & WorkerBindingActivities>(pinned(QUICK));
  const pinnedStreaming = proxyActivities<StoreActivities & RepositoryActivities & OffsiteActivities>(pinned(STREAMING));
  const pinnedHousekeeping = proxyActivities<RepositoryActivities & OffsiteActivities>(pinned(HOUSEKEEPING));
  const pinnedTransfer = proxyActivities<OffsiteActivities>(pinned(TRANSFER));
  const stores = proxiesOf(pinnedStreaming);
  const workerAnswers = withSummary(pinnedQuick.bindRunToWorker, 'Ask the worker of this run whether it is there: a step of it timed out before it started');
  const retried = <F extends ActivityFunction>(step: ActivityFunctionWithOptions<F>) => triedAgainWhenTaskLost(step, workerAnswers);
  return {
    storeActivity<V extends StoreVerb>(verb: V, store: StoreName, context: { set?: string; summary?: string } = {}): StoreAdapter[V] {
      return withSummary(retried(stores[store][verb]), context.summary ?? STORE_STEPS[verb](STORE_LABELS[store], context.set ?? 'the set'));
    },
    repository: {
      prepareBackupSet: retried(pinnedQuick.prepareBackupSet),
      discardStagedSet: retried(pinnedQuick.discardStagedSet),
      resolveBackupSet: retried(pinnedQuick.resolveBackupSet),
      sealBackupSet: retried(pinnedStreaming.sealBackupSet),
      verifySetChecksums: retried(pinnedStreaming.verifySetChecksums),
      applyRetention: retried(pinnedHousekeeping.applyRetention),
      pruneBackupSets: retried(pinnedHousekeeping.pruneBackupSets),
    } satisfies RepositoryActivities,
    offsite: {
      copySetOffsite: retried(pinnedTransfer.copySetOffsite),
      downloadOffsiteSet: retried(pinnedTransfer.downloadOffsiteSet),
      syncOffsite: retried(pinnedTransfer.syncOffsite),
      verifyOffsiteSet: retried(pinnedTransfer.verifyOffsiteSet),
      abandonOffsiteCopy: retried(pinnedQuick.abandonOffsiteCopy),
      listOffsiteSets: retried(pinnedQuick.listOffsiteSets),
      deleteOffsiteSet: retried(pinnedQuick.deleteOffsiteSet),
      applyOffsiteRetention: retried(pinnedHousekeeping.applyOffsiteRetention),
    } satisfies OffsiteActivities,
  };
}
export type RunActivities = Pick<ReturnType<typeof onWorker>, 'storeActivity' | 'repository'>;

/** Asks any worker to take the run's local files; the answer names its own task queue. */
export const binding = { bindRunToWorker: quick.bindRunToWorker } satisfies WorkerBindingActivities;

export function probeOnce(store: StoreName): StoreAdapter['probe'] {
  return withSummary(onceStores[store].probe, STORE_STEPS.probe(STORE_LABELS[store], ''));
}

/** The activity, called with a one-line summary shown in the Web UI. */
export function withSummary<F extends ActivityFunction>(activity: ActivityFunctionWithOptions<F>, summary: string): F {
  return ((...args: Parameters<F>) => activity.executeWithOptions({ summary }, args)) as F;
}

export const repository = {
  prepareBackupSet: quick.prepareBackupSet,
  discardStagedSet: quick.discardStagedSet,
  resolveBackupSet: quick.resolveBackupSet,
  sealBackupSet: streaming.sealBackupSet,
  verifySetChecksums: streaming.verifySetChecksums,
  applyRetention: housekeeping.applyRetention,
  pruneBackupSets: housekeeping.pruneBackupSets,
} satisfies RepositoryActivities;

export const coordination = { waitForEarlierBackups: waiting.waitForEarlierBackups } satisfies LegacyCoordinationActivities;
export const notifications = { notify: notifying.notify } satisfies NotificationActivities;

export const audit = { recordAudit: quick.recordAudit } satisfies AuditActivities;

export const health = { inspectBackupDir: quick.inspectBackupDir } satisfies HealthActivities;

/** Whether an encrypted set opens on the worker: the refusal is quick, the decryption reads every file. */
export const encryption = {
  requireSetIdentity: quick.requireSetIdentity,
  checkSetDecrypts: streaming.checkSetDecrypts,
} satisfies EncryptionActivities;
