/**
 * PostgreSQL restore: the set is restored into a fresh database beside the target, with the dumped
 * database's own properties, checked against the manifest's row counts, and only then swapped in by
 * renaming both databases in one transaction. The old database, renamed, is the safety snapshot.
 */
import { basename, join } from 'node:path';
import type { Client } from 'pg';
import type { Config } from '../../core/config';
import type { RestoreSource, StagedRestore, StoreRestoreInput, StoreRestoreResult } from '../../core/contract';
import { summaryDifferences, type ContentSummary } from '../../core/manifest';
import { VerificationFailed } from '../repository/errors';
import { scratchDirectory } from '../repository/sets';
import { spawnChecked } from '../child-process';
import { requireIdentityForFiles } from '../encryption';
import { isStoredAsIs } from '../data-file-streams';
import type { ProgressReporter } from '../heartbeat';
import { archiveFile, keepTableOfContents, pgRestoreWhileDecoding, withSeekableArchive, type ArchiveReader } from './archive';
import { removeStagedArchive, stagedArchiveOf, type StagedArchive } from './staged-archive';
import { countRows, databaseExists, quoteIdent, withClient } from './catalog';
import { databaseTarget, maintenanceTarget, postgresTarget, type LibpqTarget } from './connection';
import { applyDatabaseProperties, createDatabaseStatement, readDatabaseProperties, type DatabaseProperties } from './database-properties';
import { dropDatabase, restoreNames, swapIn } from './databases';
import { applyGlobals } from './roles';
import { POSTGRES_FILE_ROLES, sealedArchive, sealedFile } from './set-files';

export async function restore(config: Config, input: StoreRestoreInput, progress: ProgressReporter): Promise<StoreRestoreResult> {
  const names = restoreNames(postgresTarget(config).database, input.restoreId);
  const admin = maintenanceTarget(config);
  if (await withClient(admin, (client) => databaseExists(client, names.preRestore))) {
    // An earlier attempt got as far as the swap; only the check remains.
    await checkRows(databaseTarget(config, names.database), input.summary, names.database);
    return { details: [`${names.database} was already swapped in by an earlier attempt`] };
  }
  const stagedBefore = input.staged === true && (await withClient(admin, (client) => databaseExists(client, names.fresh)));
  const details = stagedBefore ? await finishStage(config, input, names.fresh, progress) : await restoreFresh(config, input, names.fresh, progress);
  progress.phase('swapping databases');
  details.push(...(await withClient(admin, (client) => swapIn(client, names, input.force))));
  return { details };
}

/**
 * The set's tables and rows restored into the fresh database beside the target, and counted: nothing
 * live is touched. The indexes, constraints and statistics are left for `restore`, which runs once
 * every check of the set has passed, beside the other stores' restores: the check (the row counts)
 * does not wait for them.
 */
export async function stage(config: Config, input: StoreRestoreInput, progress: ProgressReporter): Promise<StagedRestore> {
  const names = restoreNames(postgresTarget(config).database, input.restoreId);
  if (await withClient(maintenanceTarget(config), (client) => databaseExists(client, names.preRestore))) {
    return { staged: false, details: [`${names.database} was already swapped in by an earlier attempt`] };
  }
  try {
    const archive = stagedArchiveOf(config, names.fresh);
    await archive.remove();
    const details = await restoreInto(config, input, names.fresh, progress, archive);
    progress.phase('checking rows');
    await checkRows(databaseTarget(config, names.fresh), input.summary, names.fresh);
    await archive.mark('pending');
    return { staged: true, details: [...details, `restored into ${names.fresh}; row counts of every table equal the manifest`] };
  } catch (error) {
    // A stage that failed is not rolled back by the workflow (no store was touched): it removes its own copy.
    await withClient(maintenanceTarget(config), (client) => dropDatabase(client, names.fresh)).catch(() => undefined);
    await removeStagedArchive(config, names.fresh).catch(() => undefined);
    throw error;
  }
}

/**
 * The rest of a staged restore: the indexes and constraints (pg_restore's post-data section), the
 * statistics and the database's properties. A database an earlier attempt had begun to finish, or one
 * staged whole by an earlier version of the stage, is handled as such.
 */
async function finishStage(config: Config, input: StoreRestoreInput, fresh: string, progress: ProgressReporter): Promise<string[]> {
  const archive = stagedArchiveOf(config, fresh);
  const kept = await archive.read();
  if (kept === undefined) return [`${fresh} was complete already (staged whole, or finished by an earlier attempt)`];
  if (kept.state !== 'pending') {
    // Half of its indexes may exist: the fresh database is made again from the set.
    await archive.remove();
    return ['an earlier attempt was stopped while it built the indexes: the database was restored again', ...(await restoreFresh(config, input, fresh, progress))];
  }
  await archive.mark('finishing');
  const details = await finishInto(config, input, fresh, kept.archive, progress);
  await archive.remove();
  return [`${fresh} was staged (tables and rows, counted) while the set was checked`, ...details];
}

async function restoreFresh(config: Config, input: StoreRestoreInput, fresh: string, progress: ProgressReporter): Promise<string[]> {
  const details = await restoreInto(config, input, fresh, progress);
  progress.phase('checking rows');
  await checkRows(databaseTarget(config, fresh), input.summary, fresh);
  return [...details, `restored into ${fresh}; row counts of every table equal the manifest`];
}

/**
 * Restores the set's PostgreSQL files into a new database named `database`, replacing any database of
 * that name: the roles and memberships the server lacks, the archive, the dumped database's encoding,
 * locale, settings, owner, comment and privileges, and fresh planner statistics. For the restore's
 * fresh database as for side-by-side restores and drills. An encrypted set on a worker without an identity
 * is refused with EncryptionIdentityMissing before anything is created.
 *
 * Given `stagedArchive`, it stops after the tables and their rows and keeps a seekable archive for
 * `finishInto`: the set's own file, or, for a compressed or encrypted one, its table of contents
 * decoded (see keepTableOfContents), while pg_restore reads the rows as the programs decode them.
 */
export async function restoreInto(config: Config, source: RestoreSource, database: string, progress: ProgressReporter, stagedArchive?: StagedArchive): Promise<string[]> {
  requireIdentityForFiles(config, source.files.map((file) => file.name));
  const details: string[] = [];
  const admin = maintenanceTarget(config);
  const globals = sealedFile(config, source, POSTGRES_FILE_ROLES.globals);
  if (globals) {
    progress.phase('creating missing roles and memberships');
    const applied = await withClient(admin, (client) => applyGlobals(client, globals, config));
    details.push(applied.created.length > 0 ? `roles created: ${applied.created.join(', ')}` : 'all roles of the set exist already');
    if (applied.granted.length > 0) details.push(`memberships granted: ${applied.granted.join('; ')}`);
  }
  const createDatabase = async (archive: ArchiveReader) => {
    progress.phase('creating database');
    const properties = await readDatabaseProperties(archive, listScratch(config, database));
    await withClient(admin, async (client) => {
      await dropDatabase(client, database);
      await client.query(properties ? createDatabaseStatement(properties, database) : await createLikeTarget(client, config, database));
    });
    return properties;
  };
  const stored = sealedArchive(config, source);
  if (stagedArchive) {
    const seekable = isStoredAsIs(basename(stored));
    if (!seekable) {
      progress.phase('decoding the table of contents');
      const kept = await keepTableOfContents(stored, stagedArchive.decodedPath, config, progress.signal);
      if (kept === 'whole archive') details.push('the table of contents is longer than its start: the whole archive was decoded for the indexes');
    }
    await stagedArchive.keep(seekable ? stored : stagedArchive.decodedPath);
    await createDatabase(archiveFile(seekable ? stored : stagedArchive.decodedPath));
    progress.phase(seekable ? 'pg_restore' : 'pg_restore while decoding');
    await runPgRestore(config, source, database, seekable ? { archive: stored } : { decoding: stored }, DATA_SECTIONS, progress);
    return details;
  }
  await withSeekableArchive(stored, join(scratchDirectory(config.backupDir), `${source.restoreId}-postgres-${database}.custom`), config, progress, async (archive) => {
    const properties = await createDatabase(archiveFile(archive));
    progress.phase('pg_restore');
    await runPgRestore(config, source, database, { archive }, [], progress);
    details.push(...(await finishDatabase(config, database, properties, progress)));
  });
  return details;
}

/** What a stage restores: the tables and their rows, without the indexes and constraints. */
const DATA_SECTIONS = ['--section=pre-data', '--section=data'];

/** The indexes, constraints and statistics of a database `restoreInto` staged, and the dumped database's properties. */
async function finishInto(config: Config, source: RestoreSource, database: string, archive: string, progress: ProgressReporter): Promise<string[]> {
  progress.phase('building indexes and constraints');
  await runPgRestore(config, source, database, { archive }, ['--section=post-data'], progress);
  return finishDatabase(config, database, await readDatabaseProperties(archiveFile(archive), listScratch(config, database)), progress);
}

/** A seekable archive, restored by two jobs, or a stored one restored by one job as it is decoded. */
type PgRestoreInput = { archive: string } | { decoding: string };

async function runPgRestore(config: Config, source: RestoreSource, database: string, input: PgRestoreInput, sections: readonly string[], progress: ProgressReporter): Promise<void> {
  const target = databaseTarget(config, database);
  // Without the set's roles, objects are owned by the restoring user rather than by roles that may not exist.
  const ownership = sealedFile(config, source, POSTGRES_FILE_ROLES.globals) ? [] : ['--no-owner', '--no-privileges'];
  const args = ['--exit-on-error', ...sections, ...ownership, `--dbname=${target.uri}`];
  if ('decoding' in input) {
    await pgRestoreWhileDecoding(input.decoding, config, { args, env: target.env }, progress.signal);
    return;
  }
  await spawnChecked('pg_restore', ['--jobs=2', ...args, input.archive], { env: target.env, signal: progress.signal }).done;
}

/** Fresh planner statistics, then the dumped database's own properties, applied once its objects exist. */
async function finishDatabase(config: Config, database: string, properties: DatabaseProperties | undefined, progress: ProgressReporter): Promise<string[]> {
  progress.phase('ANALYZE');
  await withClient(databaseTarget(config, database), (client) => client.query('ANALYZE'));
  if (!properties) {
    return ['the set records no database-level properties (made without pg_dump --create); settings, owner and privileges of the database are the defaults'];
  }
  progress.phase('applying database properties');
  await withClient(maintenanceTarget(config), (client) => applyDatabaseProperties(client, properties, database));
  return [`${database} has the dumped database's encoding, locale, settings, owner, comment and privileges`];
}

function listScratch(config: Config, database: string): string {
  return join(scratchDirectory(config.backupDir), `postgres-${database}.list`);
}

/** For archives that do not record their database: the encoding, locale and owner of the target as it is now. */
async function createLikeTarget(client: Client, config: Config, database: string): Promise<string> {
  const like = (
    await client.query<{ owner: string; encoding: string; collate: string; ctype: string }>(
      `SELECT pg_get_userbyid(datdba) AS owner, pg_encoding_to_char(encoding) AS encoding, datcollate AS collate, datctype AS ctype
         FROM pg_database WHERE datname = $1`,
      [postgresTarget(config).database],
    )
  ).rows[0];
  const options = like ? ` OWNER ${quoteIdent(like.owner)} ENCODING '${like.encoding}' LC_COLLATE '${like.collate}' LC_CTYPE '${like.ctype}'` : '';
  return `CREATE DATABASE ${quoteIdent(database)} TEMPLATE template0${options}`;
}

async function checkRows(database: LibpqTarget, expected: ContentSummary, name: string): Promise<void> {
  const actual: ContentSummary = { unit: 'rows', counts: await withClient(database, countRows) };
  const differences = summaryDifferences(expected, actual);
  if (differences.length > 0) throw new VerificationFailed(`${name} does not hold what the set records: ${differences.slice(0, 3).join('; ')}`);
}
