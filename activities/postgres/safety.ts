/**
 * The safety snapshot is the target database itself: the swap renames it `<db>_pre_restore_<id>`, a
 * rollback renames it back, untouched, and the release drops it (or keeps it when asked).
 */
import type { Config } from '../../core/config';
import type { RestoreSource, SafetySnapshot } from '../../core/contract';
import type { ProgressReporter } from '../heartbeat';
import { databaseExists, quoteIdent, withClient } from './catalog';
import { maintenanceTarget, postgresTarget } from './connection';
import { dropDatabase, endSessions, restoreNames } from './databases';
import { removeStagedArchive } from './staged-archive';

export async function safetySnapshot(config: Config, input: RestoreSource, progress: ProgressReporter): Promise<SafetySnapshot> {
  const names = restoreNames(postgresTarget(config).database, input.restoreId);
  progress.phase('looking for the target database');
  const existed = await withClient(maintenanceTarget(config), (client) => databaseExists(client, names.database));
  return {
    description: existed
      ? `database ${names.database} is kept, renamed ${names.preRestore}, until the restore is released`
      : `database ${names.database} did not exist before the restore`,
    references: { ...names, existed: String(existed) },
  };
}

export async function rollback(config: Config, safety: SafetySnapshot, progress: ProgressReporter): Promise<void> {
  const { database, fresh, preRestore } = namesOf(safety);
  progress.phase('bringing the previous database back');
  await withClient(maintenanceTarget(config), async (client) => {
    if (await databaseExists(client, preRestore)) {
      if (await databaseExists(client, database)) {
        const failed = `${fresh}_failed`;
        await dropDatabase(client, failed);
        await endSessions(client, database);
        await client.query('BEGIN');
        await client.query(`ALTER DATABASE ${quoteIdent(database)} RENAME TO ${quoteIdent(failed)}`);
        await client.query(`ALTER DATABASE ${quoteIdent(preRestore)} RENAME TO ${quoteIdent(database)}`);
        await client.query('COMMIT');
        await dropDatabase(client, failed);
      } else {
        await client.query(`ALTER DATABASE ${quoteIdent(preRestore)} RENAME TO ${quoteIdent(database)}`);
      }
    } else if (safety.references.existed === 'false') {
      await dropDatabase(client, database);
    }
    await dropDatabase(client, fresh);
  });
  await removeStagedArchive(config, fresh);
}

export async function release(config: Config, safety: SafetySnapshot, keep: boolean, progress: ProgressReporter): Promise<void> {
  if (keep) return;
  const { preRestore } = namesOf(safety);
  progress.phase(`dropping ${preRestore}`);
  await withClient(maintenanceTarget(config), (client) => dropDatabase(client, preRestore));
}

function namesOf(safety: SafetySnapshot): { database: string; fresh: string; preRestore: string } {
  const { database, fresh, preRestore } = safety.references;
  if (!database || !fresh || !preRestore) throw new Error(`the PostgreSQL safety snapshot lacks its database names: ${safety.description}`);
  return { database, fresh, preRestore };
}
