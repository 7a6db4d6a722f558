/**
 * Every store verb under its activity type, `<verb><Store>` (`backupPostgres`, `rollbackRedis`): the
 * names every recorded history and the Web UI show. They are spelled out here, once per direction, so
 * the compiler checks each one against `StoreActivities` and no name is ever built from strings. A new
 * store adds its block to both tables (the compiler points at them); workflows do not change.
 */
import type { StoreActivities, StoreActivityName, StoreAdapter, StoreVerb } from './contract';
import type { StoreName } from './stores';

/** What each verb is bound to: the adapter's function (worker side) or its activity proxy (workflow side). */
export type VerbTable = { [V in StoreVerb]: unknown };

/** The same verbs, flat under their activity types. */
export type ByActivityType<T extends VerbTable> = { [V in StoreVerb as StoreActivityName<V>]: T[V] };

/** One table of verbs per store. */
export type ByStore<T extends VerbTable> = { [S in StoreName]: { [V in StoreVerb]: T[V] } };

/** The worker's registration: every adapter's verbs under their activity types. */
export function byActivityType<T extends VerbTable>({ postgres, redis, qdrant }: ByStore<T>): ByActivityType<T> {
  return {
    probePostgres: postgres.probe,
    backupPostgres: postgres.backup,
    verifyPostgres: postgres.verify,
    preflightPostgres: postgres.preflight,
    safetySnapshotPostgres: postgres.safetySnapshot,
    stagePostgres: postgres.stage,
    restorePostgres: postgres.restore,
    summarizePostgres: postgres.summarize,
    rollbackPostgres: postgres.rollback,
    releasePostgres: postgres.release,
    probeRedis: redis.probe,
    backupRedis: redis.backup,
    verifyRedis: redis.verify,
    preflightRedis: redis.preflight,
    safetySnapshotRedis: redis.safetySnapshot,
    stageRedis: redis.stage,
    restoreRedis: redis.restore,
    summarizeRedis: redis.summarize,
    rollbackRedis: redis.rollback,
    releaseRedis: redis.release,
    probeQdrant: qdrant.probe,
    backupQdrant: qdrant.backup,
    verifyQdrant: qdrant.verify,
    preflightQdrant: qdrant.preflight,
    safetySnapshotQdrant: qdrant.safetySnapshot,
    stageQdrant: qdrant.stage,
    restoreQdrant: qdrant.restore,
    summarizeQdrant: qdrant.summarize,
    rollbackQdrant: qdrant.rollback,
    releaseQdrant: qdrant.release,
  };
}

/** The workflows' view: the activity proxies of each store, verb by verb. */
export function byStore<T extends VerbTable>(activities: ByActivityType<T>): ByStore<T> {
  const a = activities;
  return {
    postgres: {
      probe: a.probePostgres,
      backup: a.backupPostgres,
      verify: a.verifyPostgres,
      preflight: a.preflightPostgres,
      safetySnapshot: a.safetySnapshotPostgres,
      stage: a.stagePostgres,
      restore: a.restorePostgres,
      summarize: a.summarizePostgres,
      rollback: a.rollbackPostgres,
      release: a.releasePostgres,
    },
    redis: {
      probe: a.probeRedis,
      backup: a.backupRedis,
      verify: a.verifyRedis,
      preflight: a.preflightRedis,
      safetySnapshot: a.safetySnapshotRedis,
      stage: a.stageRedis,
      restore: a.restoreRedis,
      summarize: a.summarizeRedis,
      rollback: a.rollbackRedis,
      release: a.releaseRedis,
    },
    qdrant: {
      probe: a.probeQdrant,
      backup: a.backupQdrant,
      verify: a.verifyQdrant,
      preflight: a.preflightQdrant,
      safetySnapshot: a.safetySnapshotQdrant,
      stage: a.stageQdrant,
      restore: a.restoreQdrant,
      summarize: a.summarizeQdrant,
      rollback: a.rollbackQdrant,
      release: a.releaseQdrant,
    },
  };
}

/** The registered store activities: exactly `StoreActivities`. */
export function storeActivitiesOf(adapters: ByStore<StoreAdapter>): StoreActivities {
  return byActivityType<StoreAdapter>(adapters);
}
