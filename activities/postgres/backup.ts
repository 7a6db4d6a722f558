/**
 * PostgreSQL backup and verify. Backup: one `pg_dump -Fc` in a snapshot exported by our own
 * transaction, so the row counts we record and the dump see the same moment. The same stream feeds
 * `pg_restore -f -`, which reads the whole archive as it is written and turns it into the plain SQL
 * file: the database is read once, and the rows of every table are counted on the way. Verify reads
 * the stored files back to their end.
 *
 * Compression: with gzip, the custom dump is pg_dump's own (zlib) archive, `postgres_<stamp>.sql.custom`,
 * as the specification names it; with zstd, pg_dump writes it uncompressed and zstd compresses the
 * stream (`.sql.custom.zst`), which is several times faster.
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { PassThrough, type Readable, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { algorithmOfFile, compressedName, type Compression } from '../../core/compression';
import type { Config } from '../../core/config';
import { storeUrl } from '../../core/config';
import type { StoreBackupResult, StoreProbe, StoreVerifyInput, StoreVerifyResult } from '../../core/contract';
import { summaryDifferences, type FileEntry } from '../../core/manifest';
import { VerificationFailed } from '../repository/errors';
import { discard, HashingTap } from '../repository/hashing';
import { fsyncPath, setDirectory } from '../repository/sets';
import { ChildFailed, feedChild, runForOutput, spawnChecked } from '../child-process';
import { compressor, decompressedFile, decompressorFor } from '../compression-streams';
import type { ProgressReporter } from '../heartbeat';
import { connect, countRows, withClient } from './catalog';
import { libpqTarget, majorOf, type LibpqTarget } from './connection';
import { CopyRowCounter } from './copy-row-counter';

/** How long the dump's tools may take to exit on their own after a stream broke, before they are killed. */
const TOOLS_EXIT_GRACE_MS = 2000;

export const POSTGRES_FILE_ROLES = { custom: 'custom-dump', plain: 'plain-sql', globals: 'globals-sql' } as const;

export function postgresFileNames(stamp: string, compression: Compression) {
  return {
    custom: compression.algorithm === 'gzip' ? `postgres_${stamp}.sql.custom` : compressedName(`postgres_${stamp}.sql.custom`, compression),
    plain: compressedName(`postgres_${stamp}.sql`, compression),
    globals: compressedName(`postgres_${stamp}_globals.sql`, compression),
  };
}

export async function probe(config: Config): Promise<StoreProbe> {
  const target = libpqTarget(storeUrl(config, 'postgres'));
  const serverVersion = await withClient(target, async (client) => {
    const { rows } = await client.query<{ server_version: string }>('SHOW server_version');
    return rows[0]!.server_version;
  });
  const dumpVersion = (await runForOutput('pg_dump', ['--version'])).trim();
  if (majorOf(dumpVersion.replace(/^pg_dump \(PostgreSQL\) /, '')) < majorOf(serverVersion)) {
    throw Object.assign(new Error(`${dumpVersion} cannot dump a PostgreSQL ${serverVersion} server; install the client of version ${majorOf(serverVersion)} or newer`), {
      name: 'IncompatibleVersion',
    });
  }
  return { serverVersion, details: [`${dumpVersion} for server ${serverVersion}`, `database ${target.database}`] };
}

export async function backup(config: Config, dir: string, stamp: string, progress: ProgressReporter): Promise<StoreBackupResult> {
  const target = libpqTarget(storeUrl(config, 'postgres'));
  const names = postgresFileNames(stamp, config.compression);
  await Promise.all(Object.values(names).map((name) => rm(join(dir, name), { force: true })));

  const client = await connect(target);
  let dumped: Dumped;
  let counts: Record<string, number>;
  let serverVersion: string;
  try {
    await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    const { rows } = await client.query<{ snapshot: string; server_version: string }>(
      "SELECT pg_export_snapshot() AS snapshot, current_setting('server_version') AS server_version",
    );
    const snapshot = rows[0]!.snapshot;
    serverVersion = rows[0]!.server_version;
    [dumped, counts] = await progress.timed('dumping', () =>
      Promise.all([dumpDatabase(target, snapshot, dir, names, config.compression, progress), countRows(client)]),
    );
    await client.query('COMMIT');
  } finally {
    await client.end().catch(() => undefined);
  }
  const summary = { unit: 'rows' as const, counts };
  const differences = summaryDifferences(summary, { unit: 'rows', counts: dumped.rowsInArchive });
  if (differences.length > 0) {
    throw new VerificationFailed(`${names.custom} does not hold the rows the database had: ${differences.slice(0, 3).join('; ')}`);
  }

  const notes: string[] = [];
  const globals = await progress.timed('dumping roles', () =>
    dumpGlobals(target, join(dir, names.globals), config.compression, notes, progress.signal),
  );
  const files = [dumped.custom, dumped.plain, ...(globals ? [{ ...globals, name: names.globals }] : [])];
  await Promise.all(files.map((file) => fsyncPath(join(dir, file.name))));
  const tables = Object.keys(counts).length;
  return {
    serverVersion,
    files,
    summary,
    checks: [
      `${names.custom}: read to its end by pg_restore while it was written; rows of all ${tables} tables equal the database's`,
      `${names.plain}: made from that same stream`,
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
 * pg_dump → (custom file) and → pg_restore -f - → row counter → compression → (plain file), both
 * branches hashed. Any child that fails, or a stream that breaks, fails the whole dump.
 */
async function dumpDatabase(
  target: LibpqTarget,
  snapshot: string,
  dir: string,
  names: ReturnType<typeof postgresFileNames>,
  compression: Compression,
  progress: ProgressReporter,
): Promise<Dumped> {
  const abort = new AbortController();
  const onCancel = () => abort.abort(progress.signal.reason);
  progress.signal.addEventListener('abort', onCancel, { once: true });
  const internal = compression.algorithm === 'gzip' ? [`--compress=${compression.level}`] : ['--compress=0'];
  const dump = spawnChecked(
    'pg_dump',
    ['--format=custom', ...internal, `--snapshot=${snapshot}`, '--lock-wait-timeout=60s', `--dbname=${target.uri}`],
    { env: target.env, signal: abort.signal },
  );
  const toSql = spawnChecked('pg_restore', ['--file=-'], { stdin: 'pipe', signal: abort.signal });
  const customTap = new HashingTap();
  const plainTap = new HashingTap();
  const rows = new CopyRowCounter();
  customTap.on('data', () => progress.bytes(customTap.bytes + plainTap.bytes));
  const dumpOut = dump.process.stdout as Readable;
  const toFile = new PassThrough({ highWaterMark: 1 << 20 });
  const toConverter = new PassThrough({ highWaterMark: 1 << 20 });
  dumpOut.pipe(toFile);
  dumpOut.pipe(toConverter);
  const customStages = compression.algorithm === 'gzip' ? [customTap] : [compressor(compression, abort.signal), customTap];
  const tasks = [
    dump.done,
    toSql.done,
    pipeline([toFile, ...customStages, createWriteStream(join(dir, names.custom))]),
    feedChild(toConverter, toSql.process.stdin as Writable),
    pipeline(toSql.process.stdout as Readable, rows, compressor(compression, abort.signal), plainTap, createWriteStream(join(dir, names.plain))),
  ];
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
  if (customTap.bytes === 0) throw new Error('pg_dump produced an empty archive');
  return {
    custom: { name: names.custom, bytes: customTap.bytes, sha256: customTap.digest(), role: POSTGRES_FILE_ROLES.custom },
    plain: { name: names.plain, bytes: plainTap.bytes, sha256: plainTap.digest(), role: POSTGRES_FILE_ROLES.plain },
    rowsInArchive: rows.counts,
  };
}

/**
 * Roles and tablespaces, which a single-database dump leaves out. Role passwords need superuser;
 * without it the roles are kept without passwords, and without even that, the set notes why.
 */
async function dumpGlobals(
  target: LibpqTarget,
  path: string,
  compression: Compression,
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
    const tap = new HashingTap();
    try {
      await Promise.all([child.done, pipeline(child.process.stdout as Readable, compressor(compression, signal), tap, createWriteStream(path))]);
      if (attempt.note) notes.push(attempt.note);
      return { bytes: tap.bytes, sha256: tap.digest(), role: POSTGRES_FILE_ROLES.globals };
    } catch (error) {
      lastError = (error as Error).message;
      await rm(path, { force: true });
    }
  }
  notes.push(`roles not backed up: ${lastError}`);
  return undefined;
}

/** Reads every stored file to its end: the archive through pg_restore, the SQL files decompressed, rows counted. */
export async function verify(config: Config, input: StoreVerifyInput, progress: ProgressReporter): Promise<StoreVerifyResult> {
  const dir = setDirectory(config.backupDir, input.setName, input.location);
  const byRole = (role: string) => input.files.find((file) => file.role === role);
  const custom = byRole(POSTGRES_FILE_ROLES.custom);
  if (!custom) throw new VerificationFailed('the set has no PostgreSQL custom-format dump');
  const checks: string[] = [];

  progress.phase('reading archive');
  const archiveCounts = await countArchiveRows(join(dir, custom.name), progress);
  checks.push(`${custom.name}: pg_restore read the whole archive (${Object.keys(archiveCounts).length} tables)`);

  const plain = byRole(POSTGRES_FILE_ROLES.plain);
  if (plain && input.depth === 'restore') {
    checks.push(`${plain.name}: not read again, the restore uses the custom dump (its checksum matched)`);
  } else if (plain) {
    progress.phase('reading plain SQL');
    const plainCounts = await countRowsOf(join(dir, plain.name), progress);
    const differences = summaryDifferences({ unit: 'rows', counts: archiveCounts }, { unit: 'rows', counts: plainCounts });
    if (differences.length > 0) {
      throw new VerificationFailed(`${plain.name}: rows differ from the custom dump: ${differences.slice(0, 3).join('; ')}`);
    }
    checks.push(`${plain.name}: decompressed to the end, same rows as the custom dump`);
  }
  const globals = byRole(POSTGRES_FILE_ROLES.globals);
  if (globals) {
    progress.phase('reading roles');
    await countRowsOf(join(dir, globals.name), progress);
    checks.push(`${globals.name}: decompressed to the end`);
  }
  return { checks, summary: { unit: 'rows', counts: archiveCounts } };
}

/** The archive, decompressed first when it was stored with zstd, read to its end by pg_restore. */
async function countArchiveRows(path: string, progress: ProgressReporter): Promise<Record<string, number>> {
  const name = path.slice(path.lastIndexOf('/') + 1);
  const compressed = algorithmOfFile(name) !== undefined;
  const reader = spawnChecked('pg_restore', compressed ? ['--file=-'] : ['--file=-', path], {
    stdin: compressed ? 'pipe' : 'ignore',
    signal: progress.signal,
  });
  const counter = new CopyRowCounter((bytes) => progress.bytes(bytes));
  try {
    await Promise.all([
      reader.done,
      compressed ? feedChild(decompressedFile(path, progress.signal), reader.process.stdin as Writable) : undefined,
      pipeline(reader.process.stdout as Readable, counter, discard()),
    ]);
  } catch (error) {
    throw new VerificationFailed(`${name}: the archive cannot be read to its end (${(error as Error).message})`);
  }
  return counter.counts;
}


async function countRowsOf(path: string, progress: ProgressReporter): Promise<Record<string, number>> {
  const name = path.slice(path.lastIndexOf('/') + 1);
  const counter = new CopyRowCounter((bytes) => progress.bytes(bytes));
  try {
    await pipeline(createReadStream(path, { highWaterMark: 1 << 20 }), decompressorFor(name, progress.signal), counter, discard());
  } catch (error) {
    throw new VerificationFailed(`${name}: cannot be read to its end (${(error as Error).message})`);
  }
  return counter.counts;
}
