/**
 * PostgreSQL restore: the set is restored into a fresh database beside the target, checked against
 * the manifest's row counts, and only then swapped in by renaming both databases in one transaction.
 * The old database, renamed, is the safety snapshot: a rollback renames it back, untouched.
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createInterface } from 'node:readline';
import type { Client } from 'pg';
import { algorithmOfFile } from '../../core/compression';
import type { Config } from '../../core/config';
import { storeUrl } from '../../core/config';
import type { PreflightReport, RestoreSource, SafetySnapshot, StoreRestoreInput, StoreRestoreResult } from '../../core/contract';
import { summaryDifferences, totalOf, type ContentSummary, type FileEntry } from '../../core/manifest';
import { VerificationFailed } from '../repository/errors';
import { scratchDirectory, setDirectory } from '../repository/sets';
import { runForOutput, spawnChecked } from '../child-process';
import { decompressorFor } from '../compression-streams';
import type { ProgressReporter } from '../heartbeat';
import { POSTGRES_FILE_ROLES } from './backup';
import { countRows, quoteIdent, withClient } from './catalog';
import { libpqTarget, majorOf, type LibpqTarget } from './connection';

class TargetBusy extends Error {
  override name = 'TargetBusy';
}

/** The databases one restore works with, named after the restore so a retry finds them again. */
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

export function postgresRestorer(config: Config) {
  const target = () => libpqTarget(storeUrl(config, 'postgres'));
  /** The `postgres` maintenance database on the same server: databases are created and renamed from there. */
  const maintenance = () => {
    const url = new URL(storeUrl(config, 'postgres'));
    url.pathname = '/postgres';
    return libpqTarget(url.toString());
  };
  const targetOf = (database: string): LibpqTarget => {
    const url = new URL(storeUrl(config, 'postgres'));
    url.pathname = `/${encodeURIComponent(database)}`;
    return libpqTarget(url.toString());
  };
  const archiveOf = (input: RestoreSource) => join(setDirectory(config.backupDir, input.setName, 'sealed'), fileOf(input.files, POSTGRES_FILE_ROLES.custom).name);

  return {
    async preflight(input: RestoreSource, progress: ProgressReporter): Promise<PreflightReport> {
      const names = restoreNames(target().database, input.restoreId);
      const problems: string[] = [];
      progress.phase('reading archive header');
      const header = await archiveHeader(archiveOf(input));
      const dumpedBy = /Dumped by pg_dump version: (\S+)/.exec(header)?.[1] ?? input.serverVersion;
      const restoreVersion = (await runForOutput('pg_restore', ['--version'])).trim();
      if (majorOf(restoreVersion.replace(/^pg_restore \(PostgreSQL\) /, '')) < majorOf(dumpedBy)) {
        problems.push(`${restoreVersion} cannot read an archive made by pg_dump ${dumpedBy}`);
      }
      const facts = await withClient(maintenance(), async (client) => {
        const version = (await client.query<{ v: string }>("SELECT current_setting('server_version') AS v")).rows[0]!.v;
        const exists = await databaseExists(client, names.database);
        const leftovers = (await Promise.all([names.fresh, names.preRestore].map((name) => databaseExists(client, name)))).some(Boolean);
        const sessions = exists ? await otherSessions(client, names.database) : [];
        const canCreate = (await client.query<{ ok: boolean }>('SELECT rolcreatedb OR rolsuper AS ok FROM pg_roles WHERE rolname = current_user')).rows[0]?.ok ?? false;
        return { version, exists, leftovers, sessions, canCreate };
      });
      if (majorOf(facts.version) < majorOf(input.serverVersion)) {
        problems.push(`the target server (PostgreSQL ${facts.version}) is older than the dump's (${input.serverVersion})`);
      }
      if (!facts.canCreate) problems.push('the PostgreSQL user may not create databases (CREATEDB is needed to restore beside the target)');
      if (facts.leftovers) problems.push(`${names.fresh} or ${names.preRestore} already exists: an earlier restore with the same id was not cleaned up`);
      const current: ContentSummary = { unit: 'rows', counts: facts.exists ? await withClient(target(), countRows) : {} };
      const rowsInSet = totalOf(input.summary.counts);
      const rowsNow = totalOf(current.counts);
      return {
        problems,
        current,
        details: [
          `target PostgreSQL ${facts.version}, database ${names.database}: ${facts.exists ? `${Object.keys(current.counts).length} tables, ${rowsNow} rows` : 'does not exist'}`,
          `set: dumped from PostgreSQL ${input.serverVersion} by pg_dump ${dumpedBy}, ${Object.keys(input.summary.counts).length} tables, ${rowsInSet} rows; ${restoreVersion}`,
          ...(facts.sessions.length > 0 ? [`${facts.sessions.length} other sessions are connected to ${names.database} (${facts.sessions.slice(0, 3).join(', ')}); the swap fails unless --force ends them`] : []),
        ],
        plan: [
          'create the roles of the globals file that are missing (none are dropped)',
          `create database ${names.fresh} and pg_restore the archive into it, then ANALYZE`,
          `compare its row counts, table by table, with the manifest`,
          facts.exists
            ? `in one transaction rename ${names.database} to ${names.preRestore} and ${names.fresh} to ${names.database}; ${names.preRestore} is kept until the whole restore succeeded`
            : `rename ${names.fresh} to ${names.database}`,
        ],
      };
    },

    async safetySnapshot(input: RestoreSource): Promise<SafetySnapshot> {
      const names = restoreNames(target().database, input.restoreId);
      const existed = await withClient(maintenance(), (client) => databaseExists(client, names.database));
      return {
        description: existed
          ? `database ${names.database} is kept, renamed ${names.preRestore}, until the restore is released`
          : `database ${names.database} did not exist before the restore`,
        references: { ...names, existed: String(existed) },
      };
    },

    async restore(input: StoreRestoreInput, progress: ProgressReporter): Promise<StoreRestoreResult> {
      const names = restoreNames(target().database, input.restoreId);
      const admin = maintenance();
      const swapped = await withClient(admin, (client) => databaseExists(client, names.preRestore));
      if (swapped) {
        // An earlier attempt got as far as the swap; only the check remains.
        await checkRows(targetOf(names.database), input.summary, names.database);
        return { details: [`${names.database} was already swapped in by an earlier attempt`] };
      }
      const details: string[] = [];
      const globals = input.files.find((file) => file.role === POSTGRES_FILE_ROLES.globals);
      if (globals) {
        progress.phase('creating missing roles');
        const created = await createMissingRoles(admin, join(setDirectory(config.backupDir, input.setName, 'sealed'), globals.name));
        details.push(created.length > 0 ? `roles created: ${created.join(', ')}` : 'all roles of the set exist already');
      }
      progress.phase('creating database');
      await withClient(admin, async (client) => {
        await client.query(`DROP DATABASE IF EXISTS ${quoteIdent(names.fresh)} WITH (FORCE)`);
        const like = (await client.query<{ owner: string; encoding: string; collate: string; ctype: string }>(
          `SELECT pg_get_userbyid(datdba) AS owner, pg_encoding_to_char(encoding) AS encoding, datcollate AS collate, datctype AS ctype
             FROM pg_database WHERE datname = $1`,
          [names.database],
        )).rows[0];
        const options = like
          ? ` OWNER ${quoteIdent(like.owner)} ENCODING '${like.encoding}' LC_COLLATE '${like.collate}' LC_CTYPE '${like.ctype}'`
          : '';
        await client.query(`CREATE DATABASE ${quoteIdent(names.fresh)} TEMPLATE template0${options}`);
      });
      const fresh = targetOf(names.fresh);
      const ownership = globals ? [] : ['--no-owner', '--no-privileges'];
      await withPlainArchive(archiveOf(input), join(scratchDirectory(config.backupDir), `${input.restoreId}-postgres.custom`), progress, async (archive) => {
        progress.phase('pg_restore');
        await spawnChecked('pg_restore', ['--exit-on-error', '--jobs=2', ...ownership, `--dbname=${fresh.uri}`, archive], {
          env: fresh.env,
          signal: progress.signal,
        }).done;
      });
      progress.phase('ANALYZE');
      await withClient(fresh, (client) => client.query('ANALYZE'));
      progress.phase('checking rows');
      await checkRows(fresh, input.summary, names.fresh);
      details.push(`restored into ${names.fresh}; row counts of every table equal the manifest`);

      progress.phase('swapping databases');
      await withClient(admin, async (client) => {
        const exists = await databaseExists(client, names.database);
        let disabledConnections = false;
        let committed = false;
        if (exists) {
          const sessions = await otherSessions(client, names.database);
          if (sessions.length > 0 && !input.force) {
            throw new TargetBusy(`${sessions.length} sessions are connected to ${names.database} (${sessions.slice(0, 3).join(', ')}); stop them or restore with --force`);
          }
          if (sessions.length > 0) {
            await client.query(`ALTER DATABASE ${quoteIdent(names.database)} WITH ALLOW_CONNECTIONS false`);
            disabledConnections = true;
            await client.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()', [names.database]);
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
      });
      details.push(`${names.database} swapped in; the previous database is ${names.preRestore} until the restore is released`);
      return { details };
    },

    summarize: async (): Promise<ContentSummary> => ({ unit: 'rows', counts: await withClient(target(), countRows) }),

    async rollback(safety: SafetySnapshot): Promise<void> {
      const { database, fresh, preRestore, existed } = safety.references as unknown as RestoreNames & { existed: string };
      await withClient(maintenance(), async (client) => {
        if (await databaseExists(client, preRestore)) {
          if (await databaseExists(client, database)) {
            const failed = `${fresh}_failed`;
            await client.query(`DROP DATABASE IF EXISTS ${quoteIdent(failed)} WITH (FORCE)`);
            await client.query(`ALTER DATABASE ${quoteIdent(database)} WITH ALLOW_CONNECTIONS false`);
            await client.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()', [database]);
            await client.query('BEGIN');
            await client.query(`ALTER DATABASE ${quoteIdent(database)} RENAME TO ${quoteIdent(failed)}`);
            await client.query(`ALTER DATABASE ${quoteIdent(preRestore)} RENAME TO ${quoteIdent(database)}`);
            await client.query('COMMIT');
            await client.query(`DROP DATABASE ${quoteIdent(failed)} WITH (FORCE)`);
          } else {
            await client.query(`ALTER DATABASE ${quoteIdent(preRestore)} RENAME TO ${quoteIdent(database)}`);
          }
        } else if (existed === 'false') {
          await client.query(`DROP DATABASE IF EXISTS ${quoteIdent(database)} WITH (FORCE)`);
        }
        await client.query(`DROP DATABASE IF EXISTS ${quoteIdent(fresh)} WITH (FORCE)`);
      });
    },

    async release(safety: SafetySnapshot, keep: boolean): Promise<void> {
      if (keep || !safety.references.preRestore) return;
      await withClient(maintenance(), (client) => client.query(`DROP DATABASE IF EXISTS ${quoteIdent(safety.references.preRestore!)} WITH (FORCE)`));
    },
  };
}

/** The archive's header and table of contents (`pg_restore --list`), decompressing a `.zst` archive on the fly. */
async function archiveHeader(path: string): Promise<string> {
  if (algorithmOfFile(path) === undefined) return runForOutput('pg_restore', ['--list', path]);
  // pg_restore stops reading after the table of contents; only its exit status counts, not zstd's broken pipe.
  return runForOutput('bash', ['-c', 'zstd -q -d -c -- "$1" | pg_restore --list', 'archive-header', path]);
}

/**
 * Runs `work` on an archive pg_restore can seek in (parallel restore needs that): the stored file itself,
 * or, for a `.zst` archive, a decompressed copy in BACKUP_DIR/.tmp that is removed afterwards.
 */
async function withPlainArchive(path: string, scratch: string, progress: ProgressReporter, work: (archive: string) => Promise<void>): Promise<void> {
  if (algorithmOfFile(path) === undefined) return work(path);
  progress.phase('decompressing archive');
  await mkdir(dirname(scratch), { recursive: true });
  try {
    await pipeline(createReadStream(path, { highWaterMark: 1 << 20 }), decompressorFor(path, progress.signal), createWriteStream(scratch));
    await work(scratch);
  } finally {
    await rm(scratch, { force: true });
  }
}

async function checkRows(database: LibpqTarget, expected: ContentSummary, name: string): Promise<void> {
  const actual: ContentSummary = { unit: 'rows', counts: await withClient(database, countRows) };
  const differences = summaryDifferences(expected, actual);
  if (differences.length > 0) throw new VerificationFailed(`${name} does not hold what the set records: ${differences.slice(0, 3).join('; ')}`);
}

async function databaseExists(client: Client, name: string): Promise<boolean> {
  return (await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name])).rowCount === 1;
}

async function otherSessions(client: Client, database: string): Promise<string[]> {
  const { rows } = await client.query<{ who: string }>(
    `SELECT format('%s@%s pid %s%s', usename, coalesce(host(client_addr), 'local'), pid,
                   CASE WHEN application_name <> '' THEN ' (' || application_name || ')' ELSE '' END) AS who
       FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()`,
    [database],
  );
  return rows.map((row) => row.who);
}

/** Runs the CREATE ROLE/ALTER ROLE statements of the globals file for roles the server lacks; never drops or alters existing roles. */
async function createMissingRoles(admin: LibpqTarget, globalsPath: string): Promise<string[]> {
  const statements = new Map<string, string[]>();
  const lines = createInterface({ input: createReadStream(globalsPath).pipe(decompressorFor(globalsPath)), crlfDelay: Infinity });
  for await (const line of lines) {
    const match = /^(?:CREATE|ALTER) ROLE ("(?:[^"]|"")+"|[^ ;]+)[ ;]/.exec(line);
    if (!match) continue;
    const role = match[1]!.startsWith('"') ? match[1]!.slice(1, -1).replaceAll('""', '"') : match[1]!;
    statements.set(role, [...(statements.get(role) ?? []), line]);
  }
  return withClient(admin, async (client) => {
    const created: string[] = [];
    for (const [role, sql] of statements) {
      if ((await client.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [role])).rowCount === 1) continue;
      for (const statement of sql) await client.query(statement);
      created.push(role);
    }
    return created;
  });
}

function fileOf(files: readonly FileEntry[], role: string): FileEntry {
  const file = files.find((entry) => entry.role === role);
  if (!file) throw new VerificationFailed(`the set has no PostgreSQL file of role ${role}`);
  return file;
}
