/**
 * PostgreSQL backup and verify. Backup: one `pg_dump -Fc` in a snapshot exported by our own transaction, so the
 * row counts we record and the dump see the same moment; the plain `.sql.gz` is made from that same
 * stream by `pg_restore -f -`, so the database is read once. Verify: every file is read to its end.
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { PassThrough, type Readable, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip, createGzip } from 'node:zlib';
import type { Config } from '../../core/config';
import { storeUrl } from '../../core/config';
import type { StoreBackupResult, StoreProbe, StoreVerifyInput, StoreVerifyResult } from '../../core/contract';
import type { FileEntry } from '../../core/manifest';
import { HashingTap } from '../../repository/hashing';
import { VerificationFailed } from '../../repository/errors';
import { fsyncPath, setDirectory } from '../../repository/sets';
import { ChildFailed, runForOutput, spawnChecked } from '../child-process';
import type { ProgressReporter } from '../heartbeat';
import { connect, countRows, withClient } from './catalog';
import { libpqTarget, majorOf, type LibpqTarget } from './connection';
import { CopyRowCounter } from './copy-row-counter';

export const POSTGRES_FILE_ROLES = { custom: 'custom-dump', plain: 'plain-sql', globals: 'globals-sql' } as const;

export function postgresFileNames(stamp: string) {
  return {
    custom: `postgres_${stamp}.sql.custom`,
    plain: `postgres_${stamp}.sql.gz`,
    globals: `postgres_${stamp}_globals.sql.gz`,
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
  const names = postgresFileNames(stamp);
  await Promise.all(Object.values(names).map((name) => rm(join(dir, name), { force: true })));

  const client = await connect(target);
  let dumped: { custom: FileEntry; plain: FileEntry };
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
      Promise.all([dumpDatabase(target, snapshot, dir, names, progress), countRows(client)]),
    );
    await client.query('COMMIT');
  } finally {
    await client.end().catch(() => undefined);
  }

  const notes: string[] = [];
  const globals = await progress.timed('dumping roles', () => dumpGlobals(target, join(dir, names.globals), notes, progress.signal));
  const files = [dumped.custom, dumped.plain, ...(globals ? [{ ...globals, name: names.globals }] : [])];
  await Promise.all(files.map((file) => fsyncPath(join(dir, file.name))));
  return { serverVersion, files, summary: { unit: 'rows', counts }, notes, phases: progress.timings };
}

/** pg_dump → (custom file) and → pg_restore -f - → gzip → (plain file), with both branches hashed. */
async function dumpDatabase(
  target: LibpqTarget,
  snapshot: string,
  dir: string,
  names: ReturnType<typeof postgresFileNames>,
  progress: ProgressReporter,
): Promise<{ custom: FileEntry; plain: FileEntry }> {
  const abort = new AbortController();
  const onCancel = () => abort.abort(progress.signal.reason);
  progress.signal.addEventListener('abort', onCancel, { once: true });
  const dump = spawnChecked(
    'pg_dump',
    ['--format=custom', `--snapshot=${snapshot}`, '--lock-wait-timeout=60s', `--dbname=${target.uri}`],
    { env: target.env, signal: abort.signal },
  );
  const toSql = spawnChecked('pg_restore', ['--file=-'], { stdin: 'pipe', signal: abort.signal });
  const customTap = new HashingTap();
  const plainTap = new HashingTap();
  const report = () => progress.bytes(customTap.bytes + plainTap.bytes);
  customTap.on('data', report);
  const dumpOut = dump.process.stdout as Readable;
  const toFile = new PassThrough({ highWaterMark: 1 << 20 });
  const toConverter = new PassThrough({ highWaterMark: 1 << 20 });
  dumpOut.pipe(toFile);
  dumpOut.pipe(toConverter);
  try {
    await Promise.all([
      dump.done,
      toSql.done,
      pipeline(toFile, customTap, createWriteStream(join(dir, names.custom))),
      pipeline(toConverter, toSql.process.stdin as Writable),
      pipeline(toSql.process.stdout as Readable, createGzip({ level: 6 }), plainTap, createWriteStream(join(dir, names.plain))),
    ]);
  } catch (error) {
    abort.abort(error);
    throw error instanceof ChildFailed ? error : new Error(`the dump stream broke: ${(error as Error).message}`);
  } finally {
    progress.signal.removeEventListener('abort', onCancel);
  }
  if (customTap.bytes === 0) throw new Error('pg_dump produced an empty archive');
  return {
    custom: { name: names.custom, bytes: customTap.bytes, sha256: customTap.digest(), role: POSTGRES_FILE_ROLES.custom },
    plain: { name: names.plain, bytes: plainTap.bytes, sha256: plainTap.digest(), role: POSTGRES_FILE_ROLES.plain },
  };
}

/**
 * Roles and tablespaces, which a single-database dump leaves out. Role passwords need superuser;
 * without it the roles are kept without passwords, and without even that, the set notes why.
 */
async function dumpGlobals(
  target: LibpqTarget,
  path: string,
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
      await Promise.all([child.done, pipeline(child.process.stdout as Readable, createGzip(), tap, createWriteStream(path))]);
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

export async function verify(config: Config, input: StoreVerifyInput, progress: ProgressReporter): Promise<StoreVerifyResult> {
  const dir = setDirectory(config.backupDir, input.setName, input.location);
  const byRole = (role: string) => input.files.find((file) => file.role === role);
  const custom = byRole(POSTGRES_FILE_ROLES.custom);
  if (!custom) throw new VerificationFailed('the set has no PostgreSQL custom-format dump');
  const checks: string[] = [];

  progress.phase('reading archive');
  const toc = await runForOutput('pg_restore', ['--list', join(dir, custom.name)]).catch((error: Error) => {
    throw new VerificationFailed(`${custom.name}: pg_restore cannot read its table of contents (${error.message})`);
  });
  const dataEntries = toc.split('\n').filter((line) => / TABLE DATA /.test(line)).length;
  const archiveCounts = await countArchiveRows(join(dir, custom.name), progress);
  if (Object.keys(archiveCounts).length !== dataEntries) {
    throw new VerificationFailed(`${custom.name}: the table of contents lists ${dataEntries} tables with data, the data holds ${Object.keys(archiveCounts).length}`);
  }
  checks.push(`${custom.name}: pg_restore read the whole archive (${dataEntries} tables)`);

  const plain = byRole(POSTGRES_FILE_ROLES.plain);
  if (plain) {
    progress.phase('reading plain SQL');
    const plainCounts = await countPlainRows(join(dir, plain.name), progress);
    const differences = Object.keys({ ...archiveCounts, ...plainCounts }).filter(
      (table) => archiveCounts[table] !== plainCounts[table],
    );
    if (differences.length > 0) {
      throw new VerificationFailed(`${plain.name}: rows differ from the custom dump in ${differences.slice(0, 3).join(', ')}`);
    }
    checks.push(`${plain.name}: decompressed to the end, same rows as the custom dump`);
  }
  const globals = byRole(POSTGRES_FILE_ROLES.globals);
  if (globals) {
    progress.phase('reading roles');
    await pipeline(createReadStream(join(dir, globals.name)), createGunzip(), new CopyRowCounter()).catch((error: Error) => {
      throw new VerificationFailed(`${globals.name}: does not decompress (${error.message})`);
    });
    checks.push(`${globals.name}: decompressed to the end`);
  }
  return { checks, summary: { unit: 'rows', counts: archiveCounts } };
}

async function countArchiveRows(path: string, progress: ProgressReporter): Promise<Record<string, number>> {
  const name = path.slice(path.lastIndexOf('/') + 1);
  const reader = spawnChecked('pg_restore', ['--file=-', path], { signal: progress.signal });
  const counter = new CopyRowCounter((bytes) => progress.bytes(bytes));
  try {
    await Promise.all([reader.done, pipeline(reader.process.stdout as Readable, counter)]);
  } catch (error) {
    throw new VerificationFailed(`${name}: the archive cannot be read to its end (${(error as Error).message})`);
  }
  return counter.counts;
}

async function countPlainRows(path: string, progress: ProgressReporter): Promise<Record<string, number>> {
  const name = path.slice(path.lastIndexOf('/') + 1);
  const counter = new CopyRowCounter((bytes) => progress.bytes(bytes));
  try {
    await pipeline(createReadStream(path, { highWaterMark: 1 << 20 }), createGunzip(), counter);
  } catch (error) {
    throw new VerificationFailed(`${name}: cannot be read to its end (${(error as Error).message})`);
  }
  return counter.counts;
}

