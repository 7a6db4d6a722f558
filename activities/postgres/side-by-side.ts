/**
 * Side-by-side restore (`restore --component postgres --as-database NAME`): the set goes into a new
 * database NAME on the same server, with the dumped database's properties; the live database is never
 * touched and nothing is swapped. NAME must not exist: the preflight refuses it, so no database is
 * ever replaced. The "safety snapshot" is the fact that NAME did not exist; a rollback drops it.
 */
import type { Config } from '../../core/config';
import type { PreflightReport, RestoreSource, SafetySnapshot, StoreRestoreInput, StoreRestoreResult } from '../../core/contract';
import { totalOf, type ContentSummary } from '../../core/manifest';
import type { ProgressReporter } from '../heartbeat';
import { countRows, databaseExists, withClient } from './catalog';
import { databaseTarget, maintenanceTarget, majorOf, postgresTarget } from './connection';
import { dropDatabase } from './databases';
import { restoreInto } from './restore';

/** Marks a safety snapshot as a side-by-side one, so rollback and release know what to do. */
const SIDE_BY_SIDE = 'sideBySide';

export function isSideBySide(safety: SafetySnapshot): boolean {
  return safety.references[SIDE_BY_SIDE] === 'true';
}

export async function preflightSideBySide(config: Config, input: RestoreSource, name: string, progress: ProgressReporter): Promise<PreflightReport> {
  const live = postgresTarget(config).database;
  progress.phase('reading the target');
  const facts = await withClient(maintenanceTarget(config), async (client) => ({
    version: (await client.query<{ v: string }>("SELECT current_setting('server_version') AS v")).rows[0]!.v,
    exists: await databaseExists(client, name),
    canCreate: (await client.query<{ ok: boolean }>('SELECT rolcreatedb OR rolsuper AS ok FROM pg_roles WHERE rolname = current_user')).rows[0]?.ok ?? false,
  }));
  const problems: string[] = [];
  if (name === live || facts.exists) problems.push(`database ${name} already exists; choose a new name (the live database ${live} is never replaced this way)`);
  if (!facts.canCreate) problems.push('the PostgreSQL user may not create databases (CREATEDB is needed to restore beside the live database)');
  if (majorOf(facts.version) < majorOf(input.serverVersion)) {
    problems.push(`the target server (PostgreSQL ${facts.version}) is older than the dump's (${input.serverVersion})`);
  }
  return {
    problems,
    current: { unit: 'rows', counts: {} },
    details: [
      `target PostgreSQL ${facts.version}: the live database ${live} is left untouched`,
      `set: ${Object.keys(input.summary.counts).length} tables, ${totalOf(input.summary.counts)} rows, dumped from PostgreSQL ${input.serverVersion}`,
    ],
    plan: [
      'create the roles of the globals file that are missing and grant the memberships the server lacks (nothing is dropped or revoked)',
      `create database ${name} and pg_restore the archive into it, then ANALYZE, with the dumped database's properties`,
      'compare its row counts, table by table, with the manifest',
      `keep ${name} beside ${live}: nothing is swapped`,
    ],
  };
}

export function safetySnapshotSideBySide(name: string): SafetySnapshot {
  return { description: `database ${name} did not exist before the restore; a rollback drops it`, references: { database: name, [SIDE_BY_SIDE]: 'true' } };
}

export async function restoreSideBySide(config: Config, input: StoreRestoreInput, name: string, progress: ProgressReporter): Promise<StoreRestoreResult> {
  const details = await restoreInto(config, input, name, progress);
  details.push(`restored into ${name} beside ${postgresTarget(config).database}, which was not touched`);
  return { details };
}

export async function summarizeDatabase(config: Config, name: string, progress: ProgressReporter): Promise<ContentSummary> {
  progress.phase(`counting rows of ${name}`);
  return { unit: 'rows', counts: await withClient(databaseTarget(config, name), countRows) };
}

export async function rollbackSideBySide(config: Config, safety: SafetySnapshot, progress: ProgressReporter): Promise<void> {
  const name = safety.references.database;
  if (!name) throw new Error(`the side-by-side safety snapshot lacks its database name: ${safety.description}`);
  progress.phase(`dropping ${name}`);
  await withClient(maintenanceTarget(config), (client) => dropDatabase(client, name));
}
