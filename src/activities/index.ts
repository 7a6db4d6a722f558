/**
 * Every activity the worker registers: the repository's, and each store adapter's verbs under
 * `<verb><Store>` names (`backupPostgres`, `verifyRedis`, ...), all failing through `toActivityFailure`.
 */
import type { Config } from '../core/config';
import type { AuditActivities, RepositoryActivities, StoreActivities, StoreAdapter, StoreVerb } from '../core/contract';
import { capitalize, type StoreName } from '../core/stores';
import { asActivity } from './failures';
import { createPostgresAdapter } from './postgres';
import { createQdrantAdapter } from './qdrant';
import { createRedisAdapter } from './redis';
import { createAuditActivities } from './audit';
import { createRepositoryActivities } from './repository';

const VERBS: readonly StoreVerb[] = ['probe', 'backup', 'verify', 'preflight', 'safetySnapshot', 'restore', 'summarize', 'rollback', 'release'];

export function createStoreAdapters(config: Config): Record<StoreName, StoreAdapter> {
  return { postgres: createPostgresAdapter(config), redis: createRedisAdapter(config), qdrant: createQdrantAdapter(config) };
}

export function createActivities(config: Config): StoreActivities & RepositoryActivities & AuditActivities {
  const activities: Record<string, (...args: never[]) => Promise<unknown>> = {};
  for (const [store, adapter] of Object.entries(createStoreAdapters(config)) as [StoreName, StoreAdapter][]) {
    for (const verb of VERBS) {
      activities[`${verb}${capitalize(store)}`] = asActivity(config, adapter[verb] as (...args: never[]) => Promise<unknown>);
    }
  }
  for (const [name, implementation] of Object.entries({ ...createRepositoryActivities(config), ...createAuditActivities(config) })) {
    activities[name] = asActivity(config, implementation as (...args: never[]) => Promise<unknown>);
  }
  return activities as unknown as StoreActivities & RepositoryActivities & AuditActivities;
}
