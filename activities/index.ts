/**
 * Every activity the worker registers: the repository's, and each store adapter's verbs under
 * `<verb><Store>` names (`backupPostgres`, `verifyRedis`, ...; see core/store-activities.ts). Logging,
 * redaction and failure types come from the worker's activity interceptor.
 */
import type { Config } from '../core/config';
import { Context } from '@temporalio/activity';
import type {
  AuditActivities,
  BackupLockActivities,
  HealthActivities,
  EncryptionActivities,
  NotificationActivities,
  RepositoryActivities,
  StoreActivities,
  StoreAdapter,
  WorkerBindingActivities,
} from '../core/contract';
import type { DrillActivities } from '../core/drills';
import type { OffsiteActivities } from '../core/offsite';
import { runUrl } from '../core/temporal-ui';
import { storeActivitiesOf } from '../core/store-activities';
import type { StoreName } from '../core/stores';
import { createPostgresAdapter } from './postgres';
import { createQdrantAdapter } from './qdrant';
import { createRedisAdapter } from './redis';
import { createHealthActivities } from './anomalies';
import { createAuditActivities } from './audit';
import { withYieldingChecks } from './cpu-priority';
import { createBackupLockActivities } from './backup-lock';
import { createDrillActivities } from './drill/index';
import { createNotificationActivities } from './notifications';
import { createOffsiteActivities } from './offsite';
import { createRepositoryActivities } from './repository/index';
import { createEncryptionActivities } from './set-decryption';
import { createWorkerBindingActivities } from './worker-binding';

export function createStoreAdapters(config: Config): Record<StoreName, StoreAdapter> {
  return {
    postgres: withYieldingChecks(createPostgresAdapter(config)),
    redis: withYieldingChecks(createRedisAdapter(config)),
    qdrant: withYieldingChecks(createQdrantAdapter(config)),
  };
}

export type Activities = StoreActivities &
  RepositoryActivities &
  AuditActivities &
  HealthActivities &
  EncryptionActivities &
  BackupLockActivities &
  NotificationActivities &
  DrillActivities &
  OffsiteActivities &
  WorkerBindingActivities;

/**
 * Successes are sent only when BACKUP_NOTIFY_ON_SUCCESS asks for them, and every message links the run
 * that sent it in the Temporal Web UI.
 */
function notificationPolicy(config: Config, channels: NotificationActivities): NotificationActivities {
  return {
    notify: async (notification) => {
      if (notification.outcome === 'succeeded' && !config.notify.onSuccess) return [];
      const run = Context.current().info.workflowExecution;
      const workflowId = notification.workflowId ?? run?.workflowId;
      const url = notification.url ?? (run ? runUrl(config.temporal, run.workflowId, run.runId) : undefined);
      return channels.notify({ ...notification, workflowId, url });
    },
  };
}

export function createActivities(config: Config): Activities {
  const notifier = notificationPolicy(config, createNotificationActivities(config));
  return {
    ...storeActivitiesOf(createStoreAdapters(config)),
    ...createRepositoryActivities(config),
    ...createAuditActivities(config, notifier),
    ...createHealthActivities(config),
    ...createEncryptionActivities(config),
    ...createBackupLockActivities(),
    ...createDrillActivities(config),
    ...notifier,
    ...createOffsiteActivities(config),
    ...createWorkerBindingActivities(config),
  };
}
