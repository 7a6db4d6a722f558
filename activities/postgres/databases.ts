/** The databases one restore works with, and the renames that swap them. */
import type { Client } from 'pg';
import { databaseExists, otherSessions, quoteIdent } from './catalog';

export class TargetBusy extends Error {
  override name = 'TargetBusy';
}

/** Named after the restore, so a retry or a rollback finds them again. */
export interface RestoreNames {
  database: string;
  fresh: string;
  preRestore: string;
}

export function restoreNames(database: string, restoreId: string): RestoreNames {
  // Database names are limited to 63 bytes; the suffixes must survive, so the base name gives way.
  const base = database.slice(0, 63 - `_pre_restore_${restoreId}`.length);
  return { database, fresh: `${base}_restore_${restoreId}`, preRestore: `${base}_pre_restore_${restoreId}` };
}

/**
 * Swaps `fresh` in as `database` in one transaction; the database it replaces is renamed `preRestore`.
 * Other sessions on `database` make it fail with their names, unless `force` ends them.
 */
export async function swapIn(client: Client, names: RestoreNames, force: boolean): Promise<string[]> {
  const details: string[] = [];
  const exists = await databaseExists(client, names.database);
  let disabledConnections = false;
  let committed = false;
  if (exists) {
    const sessions = await otherSessions(client, names.database);
    if (sessions.length > 0 && !force) {
      throw new TargetBusy(`${sessions.length} sessions are connected to ${names.database} (${sessions.slice(0, 3).join(', ')}); stop them or restore with --force`);
    }
    if (sessions.length > 0) {
      await endSessions(client, names.database);
      disabledConnections = true;
      details.push(`ended ${sessions.length} sessions on ${names.database} (--force)`);
    }
  }
  try {
    await client.query('BEGIN');
    if (exists) await client.query(`ALTER DATABASE ${quoteIdent(names.database)} RENAME TO ${quoteIdent(names.preRestore)}`);
    await client.query(`ALTER DATABASE ${quoteIdent(names.fresh)} RENAME TO ${quoteIdent(names.database)}`);
    await client.query('COMMIT');
    committed = true;
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    if (/being accessed by other users/.test((error as Error).message)) {
      throw new TargetBusy(`${names.database} is in use: ${(error as Error).message}; stop its sessions or restore with --force`);
    }
    throw error;
  } finally {
    // The old database is the safety snapshot: it must accept connections again, whatever its name now.
    if (disabledConnections) {
      const old = committed ? names.preRestore : names.database;
      await client.query(`ALTER DATABASE ${quoteIdent(old)} WITH ALLOW_CONNECTIONS true`).catch(() => undefined);
    }
  }
  details.push(`${names.database} swapped in; the previous database is ${names.preRestore} until the restore is released`);
  return details;
}

/** Stops new connections to `database` and ends the ones it has. */
export async function endSessions(client: Client, database: string): Promise<void> {
  await client.query(`ALTER DATABASE ${quoteIdent(database)} WITH ALLOW_CONNECTIONS false`);
  await client.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()', [database]);
}

/** Drops `database` if it exists, even when the dumped database's properties made it a template. */
export async function dropDatabase(client: Client, database: string): Promise<void> {
  const { rows } = await client.query<{ template: boolean }>('SELECT datistemplate AS template FROM pg_database WHERE datname = $1', [database]);
  if (rows[0]?.template) await client.query(`ALTER DATABASE ${quoteIdent(database)} IS_TEMPLATE false`);
  await client.query(`DROP DATABASE IF EXISTS ${quoteIdent(database)} WITH (FORCE)`);
}
