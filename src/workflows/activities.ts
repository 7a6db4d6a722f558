/**
 * Activity proxies with their timeouts and retry policies, shared by the workflows. Store verbs are
 * looked up by name (`backupPostgres`, `verifyRedis`), so a new store adapter needs no workflow change.
 */
import { ActivityCancellationType, proxyActivities } from '@temporalio/workflow';
import {
  NON_RETRYABLE_FAILURES,
  type AuditActivities,
  type CoordinationActivities,
  type NotificationActivities,
  type RepositoryActivities, type StoreActivities, type StoreAdapter, type StoreVerb } from '../core/contract';
import { capitalize, type StoreName } from '../core/stores';

const nonRetryableErrorTypes = [...NON_RETRYABLE_FAILURES];

/** Short calls: a store that does not answer within a minute, three times, is reported as down. */
const quick = proxyActivities<StoreActivities & RepositoryActivities & AuditActivities>({
  startToCloseTimeout: '1 minute',
  retry: { maximumAttempts: 3, initialInterval: '1 second', backoffCoefficient: 2, nonRetryableErrorTypes },
});

/**
 * Long streaming work. The heartbeat timeout, not the hours-long ceiling, is what notices a dead
 * worker: its activity is retried on another worker within seconds. Attempts are bounded so a
 * broken store fails the run instead of retrying forever.
 */
const streaming = proxyActivities<StoreActivities & RepositoryActivities>({
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
});

/** Housekeeping that may take minutes without progress to report: retention, notifications (which retry inside). */
const housekeeping = proxyActivities<RepositoryActivities & NotificationActivities>({
  startToCloseTimeout: '10 minutes',
  retry: { maximumAttempts: 2, initialInterval: '5 seconds', nonRetryableErrorTypes },
});

/** The queue of backups: waits as long as earlier backups run, heartbeating all the while. */
const waiting = proxyActivities<CoordinationActivities>({
  startToCloseTimeout: '24 hours',
  heartbeatTimeout: '30 seconds',
  retry: { maximumAttempts: 5, initialInterval: '5 seconds', nonRetryableErrorTypes },
});

/** A health check wants the answer now: one attempt, a short timeout. */
const once = proxyActivities<StoreActivities>({
  startToCloseTimeout: '30 seconds',
  retry: { maximumAttempts: 1 },
});

export function storeActivity<V extends StoreVerb>(verb: V, store: StoreName): StoreAdapter[V] {
  const proxy = verb === 'probe' ? quick : streaming;
  return proxy[`${verb}${capitalize(store)}`] as StoreAdapter[V];
}

export function probeOnce(store: StoreName): StoreAdapter['probe'] {
  return once[`probe${capitalize(store)}`];
}

export const repository = {
  prepareBackupSet: quick.prepareBackupSet,
  discardStagedSet: quick.discardStagedSet,
  resolveBackupSet: quick.resolveBackupSet,
  sealBackupSet: streaming.sealBackupSet,
  verifySetChecksums: streaming.verifySetChecksums,
  applyRetention: housekeeping.applyRetention,
} satisfies RepositoryActivities;

export const coordination = { waitForEarlierBackups: waiting.waitForEarlierBackups } satisfies CoordinationActivities;
export const notifications = { notify: housekeeping.notify } satisfies NotificationActivities;

export const audit = { recordAudit: quick.recordAudit } satisfies AuditActivities;
