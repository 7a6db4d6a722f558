/**
 * PostgreSQL backup: one `pg_dump -Fc --create` in a snapshot exported by our own transaction, so the
 * catalog we read and the dump see the same moment. The same stream feeds `pg_restore -f -`, which
 * reads the whole archive as it is written and turns it into the plain SQL file: the database is read
 * once, and the rows of every table are counted on the way, each table on its own (`ONLY`), as the dump
 * holds them. `--create` records the database's own properties (settings, owner, comment, privileges)
 * for the restore; the plain SQL leaves them out, as a plain pg_restore does.
 */
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Config } from '../../core/config';
import type { StoreBackupResult } from '../../core/contract';
import type { FileEntry } from '../../core/manifest';
import { VerificationFailed } from '../repository/errors';
import { fsyncPath } from '../repository/sets';
import { ChildFailed, spawnChecked } from '../child-process';
import { encryptionChecks, writeChildOutput, writeDataFile, writeDataFileFromChunks } from '../data-file-streams';
import { readNamedPipe, withNamedPipes } from '../named-pipes';
import { recipientsOf } from '../encryption';
import type { ProgressReporter } from '../heartbeat';
import { connect, qualifiedName, tablesWithRows } from './catalog';
import { postgresTarget, type LibpqTarget } from './connection';
import { CopyRowCounter } from './copy-row-counter';
import { customArchiveEncoding, POSTGRES_FILE_ROLES, postgresFileNames, type PostgresEncoding } from './set-files';

/** How long the dump's tools may take to exit on their own after a stream broke, before they are killed. */
const TOOLS_EXIT_GRACE_MS = 2000;

export async function backup(config: Config, dir: string, stamp: string, progress: ProgressReporter): Promise<StoreBackupResult> {
  const target = postgresTarget(config);
  const encoding: PostgresEncoding = { compression: config.compression, recipients: await recipientsOf(config) };
  const names = postgresFileNames(stamp, encoding);
  await Promise.all(Object.values(names).map((name) => rm(join(dir, name), { force: true })));

  const client = await connect(target);
  let dumped: Dumped;
  let tables: string[];
  let serverVersion: string;
  try {
    await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    const { rows } = await client.query<{ snapshot: string; server_version: string }>(
      "SELECT pg_export_snapshot() AS snapshot, current_setting('server_version') AS server_version",
    );
    const snapshot = rows[0]!.snapshot;
    serverVersion = rows[0]!.server_version;
    tables = (await tablesWithRows(client)).map(qualifiedName);
    dumped = await progress.timed('dumping', () => dumpDatabase(target, snapshot, dir, names, encoding, progress));
    await client.query('COMMIT');
  } finally {
    await client.end().catch(() => undefined);
  }
  // Every table the snapshot holds must have its rows in the archive, each section read to its end;
  // pg_dump's exit status covers a copy cut short on the server's side.
  const missing = tables.filter((table) => dumped.rowsInArchive[table] === undefined);
  if (missing.length > 0) {
    throw new VerificationFailed(`${names.custom} does not hold the rows of ${missing.length} tables the database has: ${missing.slice(0, 3).join(', ')}`);
  }
  const summary = { unit: 'rows' as const, counts: Object.fromEntries(tables.map((table) => [table, dumped.rowsInArchive[table]!])) };

  const notes: string[] = [];
  const globals = await progress.timed('dumping roles', () =>
    dumpGlobals(target, join(dir, names.globals), encoding, notes, progress.signal),
  );
  const files = [dumped.custom, dumped.plain, ...(globals ? [{ ...globals, name: names.globals }] : [])];
  await Promise.all(files.map((file) => fsyncPath(join(dir, file.name))));
  return {
    serverVersion,
    files,
    summary,
    checks: [
      `${names.custom}: read to its end by pg_restore while it was written; the rows of all ${tables.length} tables of the snapshot counted, each table on its own`,
      `${names.plain}: made from that same stream`,
      ...encryptionChecks(files.map((file) => file.name), encoding),
    ],
    notes,
    phases: progress.timings,
  };
}

interface Dumped {
  custom: FileEntry;
  plain: FileEntry;
  rowsInArchive: Record<string, number>;
}

/**
 * The database read once, its bytes moved between the tools as a shell pipe moves them:
 *   pg_dump | tee -p (fifo 1) | [compress | encrypt] > custom file
 *   pg_restore -f - < (fifo 1) > (fifo 2, read by the row counter, which hands each chunk on to)
 *   [compress | encrypt] > plain file
 * Only the plain SQL passes through Node, which counts it anyway; the stored files are hashed once written. pg_restore reads
 * the whole archive as it is written, so the custom file is proven readable, and the rows it holds are
 * counted, before the set is sealed. Any tool that fails, or a stream that breaks, fails the whole dump.
 */
async function dumpDatabase(
  target: LibpqTarget,
  snapshot: string,
  dir: string,
  names: ReturnType<typeof postgresFileNames>,
  encoding: PostgresEncoding,
  progress: ProgressReporter,
): Promise<Dumped> {
  const abort = new AbortController();
  const onCancel = () => abort.abort(progress.signal.reason);
  progress.signal.addEventListener('abort', onCancel, { once: true });
  const internal = encoding.compression.algorithm === 'gzip' ? [`--compress=${encoding.compression.level}`] : ['--compress=0'];
  return withNamedPipes(['archive', 'sql'], async (fifos) => {
    const dump = spawnChecked(
      'pg_dump',
      ['--format=custom', '--create', ...internal, `--snapshot=${snapshot}`, '--lock-wait-timeout=60s', `--dbname=${target.uri}`],
      { env: target.env, signal: abort.signal },
    );
    // tee -p: pg_restore may stop reading a few bytes before the archive's end; the file still gets every byte.
    const archiveSplit = spawnChecked('tee', ['-p', fifos.archive], { stdin: dump.process.stdout as Readable, signal: abort.signal });
    const custom = writeChildOutput(archiveSplit.process.stdout as Readable, join(dir, names.custom), customArchiveEncoding(encoding), abort.signal);
    const toSql = spawnChecked('pg_restore', ['--file=-'], { stdinFrom: fifos.archive, stdoutTo: fifos.sql, stdout: 'ignore', signal: abort.signal });
    const rows = new CopyRowCounter((bytes) => progress.bytes(bytes));
    const plain = writeDataFileFromChunks(join(dir, names.plain), encoding, abort.signal);
    const counted = readNamedPipe(
      fifos.sql,
      (chunk) => {
        rows.count(chunk);
        return plain.writer.write(chunk);
      },
      abort.signal,
    )
      .then(() => plain.writer.end())
      .then(() => rows.finish());
    const tasks = [dump.done, archiveSplit.done, custom, toSql.done, plain.written, counted];
    try {
      await Promise.all(tasks);
    } catch (error) {
      // The first symptom is often a stream ending early; the cause is the tool that exits with an error a
      // moment later. It gets that moment before the rest is stopped, unless the run was cancelled.
      if (!progress.signal.aborted) await Promise.race([Promise.allSettled(tasks), sleep(TOOLS_EXIT_GRACE_MS)]);
      abort.abort(error);
      const settled = await Promise.allSettled(tasks);
      const exited = settled.find(
        (result): result is PromiseRejectedResult => result.status === 'rejected' && result.reason instanceof ChildFailed && /exited with code/.test(result.reason.message),
      );
      if (exited) throw exited.reason;
      throw error instanceof ChildFailed ? error : new Error(`the dump stream broke: ${(error as Error).message}`);
    } finally {
      progress.signal.removeEventListener('abort', onCancel);
    }
    const written = await custom;
    if (written.bytes === 0) throw new Error('pg_dump produced an empty archive');
    return {
      custom: { name: names.custom, ...written, role: POSTGRES_FILE_ROLES.custom },
      plain: { name: names.plain, ...(await plain.written), role: POSTGRES_FILE_ROLES.plain },
      rowsInArchive: rows.counts,
    };
  });
}

/**
 * Roles and tablespaces, which a single-database dump leaves out. Role passwords need superuser;
 * without it the roles are kept without passwords, and without even that, the set notes why.
 */
async function dumpGlobals(
  target: LibpqTarget,
  path: string,
  encoding: PostgresEncoding,
  notes: string[],
  signal: AbortSignal,
): Promise<Omit<FileEntry, 'name'> | undefined> {
  const attempts: { args: string[]; note?: string }[] = [
    { args: [] },
    { args: ['--no-role-passwords'], note: 'role passwords not included: the backup user cannot read pg_authid' },
  ];
  let lastError = '';
  for (const attempt of attempts) {
    const child = spawnChecked('pg_dumpall', ['--globals-only', ...attempt.args, `--dbname=${target.uri}`], {
      env: target.env,
      signal,
    });
    try {
      const [, written] = await Promise.all([child.done, writeDataFile([child.process.stdout as Readable], path, encoding, signal)]);
      if (attempt.note) notes.push(attempt.note);
      return { ...written, role: POSTGRES_FILE_ROLES.globals };
    } catch (error) {
      lastError = (error as Error).message;
      await rm(path, { force: true });
    }
  }
  notes.push(`roles not backed up: ${lastError}`);
  return undefined;
}

