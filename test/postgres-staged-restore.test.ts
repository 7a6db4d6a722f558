/**
 * The PostgreSQL stage and restore, as the restore workflow runs them (inside a Temporal activity
 * context, against a private PostgreSQL and a set made by the real CLI and worker): the stage restores
 * the tables and rows and counts them, the indexes and constraints wait for the restore, which builds
 * them before the swap; an attempt stopped while it built them starts the database over; a rollback
 * leaves nothing of the stage behind.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { Logger } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { Client } from 'pg';
import { withProgress, type ProgressReporter } from '../activities/heartbeat';
import { restore, stage } from '../activities/postgres/restore';
import { rollback, safetySnapshot } from '../activities/postgres/safety';
import { keepTableOfContents } from '../activities/postgres/archive';
import { stagedArchiveOf } from '../activities/postgres/staged-archive';
import { readManifest } from '../activities/repository/sets';
import { loadConfig, type Config } from '../core/config';
import type { RestoreSource } from '../core/contract';
import { tableChecksums } from './support/fingerprints';
import { seedStores } from './support/scholaria';
import { environmentFor, runCli, startStores, startWorker, type Stores } from './support/stack';

const quiet: Logger = { log() {}, trace() {}, debug() {}, info() {}, warn() {}, error() {} };
let stores: Stores;
let config: Config;
let setPath: string;
let original: Record<string, string>;
let originalIndexes: string[];

function activity<T>(work: (progress: ProgressReporter) => Promise<T>): Promise<T> {
  return new MockActivityEnvironment({}, { logger: quiet }).run(() => withProgress(work));
}

async function query<T extends object>(database: string, text: string): Promise<T[]> {
  const client = new Client({ connectionString: stores.postgres.url(database) });
  await client.connect();
  try {
    return (await client.query<T>(text)).rows;
  } finally {
    await client.end();
  }
}

/** Every index and constraint of the public schema, by definition. */
async function indexesAndConstraints(database: string): Promise<string[]> {
  const rows = await query<{ definition: string }>(
    database,
    `SELECT indexdef AS definition FROM pg_indexes WHERE schemaname = 'public'
     UNION ALL SELECT conrelid::regclass || ' ' || pg_get_constraintdef(oid) FROM pg_constraint WHERE connamespace = 'public'::regnamespace`,
  );
  return rows.map((row) => row.definition).sort();
}

async function sourceOf(restoreId: string): Promise<RestoreSource> {
  const manifest = await readManifest(setPath);
  const record = manifest.stores.postgres;
  assert.ok(record?.status === 'ok');
  return { restoreId, setName: manifest.name, files: record.files, summary: record.summary, serverVersion: record.serverVersion };
}

before(async () => {
  stores = await startStores('staged-restore');
  await seedStores(stores);
  const env = environmentFor(stores, { BACKUP_COMPONENTS: 'postgres', BACKUP_COMPRESSION: 'zstd' });
  config = loadConfig(env);
  const worker = await startWorker(env);
  try {
    const result = await runCli(['backup', '--json'], env);
    assert.equal(result.code, 0, result.stderr);
    setPath = (JSON.parse(result.stdout) as { set: { path: string } }).set.path;
  } finally {
    await worker.stop();
  }
  original = await tableChecksums(stores.databaseUrl);
  originalIndexes = await indexesAndConstraints('scholaria');
  assert.ok(originalIndexes.length > 3, 'the seeded database has indexes and constraints');
  // Changed after the backup, so a restore that did nothing cannot pass.
  await query('scholaria', `DELETE FROM chunks WHERE id % 2 = 0`);
});

after(async () => {
  await stores?.stop();
});

test('the stage restores and counts the rows without indexes; the restore builds them, swaps, and keeps nothing of the stage', async () => {
  const source = await sourceOf('20261130_060000');
  const safety = await activity((progress) => safetySnapshot(config, source, progress));
  const fresh = safety.references.fresh!;
  const staged = await activity((progress) => stage(config, { ...source, safety, force: false }, progress));
  assert.equal(staged.staged, true);
  assert.match(staged.details.at(-1)!, /row counts of every table equal the manifest/);
  assert.deepEqual(await tableChecksums(stores.postgres.url(fresh)), original, 'the staged database holds the set\'s rows');
  assert.deepEqual(
    (await indexesAndConstraints(fresh)).filter((definition) => !/ CHECK /.test(definition)),
    [],
    'no index, key or foreign key before the checks of the set passed (CHECK constraints come with the tables)',
  );
  assert.equal((await stagedArchiveOf(config, fresh).read())?.state, 'pending');

  const restored = await activity((progress) => restore(config, { ...source, safety, force: false, staged: true }, progress));
  assert.match(restored.details.join('\n'), /staged \(tables and rows, counted\)/);
  assert.deepEqual(await tableChecksums(stores.databaseUrl), original);
  assert.deepEqual(await indexesAndConstraints('scholaria'), originalIndexes);
  assert.deepEqual(readdirSync(join(config.backupDir, '.tmp')), [], 'the decoded archive and the stage\'s state are removed');
  await query('postgres', `DROP DATABASE ${safety.references.preRestore}`);
});

test('an attempt stopped while it built the indexes is started over: the restore makes the database again and swaps it in', async () => {
  await query('scholaria', `DELETE FROM chunks WHERE id % 3 = 0`);
  const source = await sourceOf('20261130_060100');
  const safety = await activity((progress) => safetySnapshot(config, source, progress));
  const fresh = safety.references.fresh!;
  await activity((progress) => stage(config, { ...source, safety, force: false }, progress));
  const kept = stagedArchiveOf(config, fresh);
  const { archive } = (await kept.read())!;
  // The first attempt built every index, then died before it recorded so.
  await kept.mark('finishing');
  const built = spawnSync('pg_restore', ['--section=post-data', `--dbname=${stores.postgres.url(fresh)}`, archive], { encoding: 'utf8' });
  assert.equal(built.status, 0, built.stderr);

  const restored = await activity((progress) => restore(config, { ...source, safety, force: false, staged: true }, progress));
  assert.match(restored.details[0]!, /stopped while it built the indexes: the database was restored again/);
  assert.deepEqual(await tableChecksums(stores.databaseUrl), original);
  assert.deepEqual(await indexesAndConstraints('scholaria'), originalIndexes);
  await query('postgres', `DROP DATABASE ${safety.references.preRestore}`);
});

test('a rollback after the stage drops the staged database and removes the decoded archive', async () => {
  const source = await sourceOf('20261130_060200');
  const safety = await activity((progress) => safetySnapshot(config, source, progress));
  const fresh = safety.references.fresh!;
  await activity((progress) => stage(config, { ...source, safety, force: false }, progress));
  assert.ok(existsSync(stagedArchiveOf(config, fresh).decodedPath), 'the stage keeps the decoded archive for the restore');
  await activity((progress) => rollback(config, safety, progress));
  assert.deepEqual(await query('postgres', `SELECT datname FROM pg_database WHERE datname = '${fresh}'`), []);
  assert.deepEqual(readdirSync(join(config.backupDir, '.tmp')), []);
  assert.deepEqual(await tableChecksums(stores.databaseUrl), original, 'the target is as it was');
});

test('the start of the archive serves the indexes when it holds the table of contents; a longer table of contents keeps the whole archive', async () => {
  const stored = join(setPath, (await sourceOf('20261130_060250')).files.find((file) => file.role === 'custom-dump')!.name);
  const whole = spawnSync('zstd', ['-q', '-d', '-c', stored], { maxBuffer: 1 << 30 }).stdout;
  const copy = join(config.backupDir, '.tmp', 'toc-test.custom');
  const listOf = (archive: string) => spawnSync('pg_restore', ['--list', archive], { encoding: 'utf8' });
  try {
    // A head shorter than the table of contents cannot be listed: the whole archive is decoded instead.
    assert.equal(await keepTableOfContents(stored, copy, config, undefined, 2048), 'whole archive');
    assert.ok(readFileSync(copy).equals(whole), 'the whole archive, byte for byte');

    const headBytes = Math.floor(whole.length / 2);
    assert.equal(await keepTableOfContents(stored, copy, config, undefined, headBytes), 'head');
    assert.ok(readFileSync(copy).equals(whole.subarray(0, headBytes)), 'only the start of the archive');
    writeFileSync(`${copy}.whole`, whole);
    assert.equal(listOf(copy).stdout, listOf(`${copy}.whole`).stdout, 'the head lists every entry of the archive');

    // The rows from the whole archive, then the indexes and constraints by two jobs from the head alone.
    await query('postgres', 'CREATE DATABASE toc_test');
    const data = spawnSync('pg_restore', ['--exit-on-error', '--section=pre-data', '--section=data', '--no-owner', `--dbname=${stores.postgres.url('toc_test')}`, `${copy}.whole`], { encoding: 'utf8' });
    assert.equal(data.status, 0, data.stderr);
    const indexes = spawnSync('pg_restore', ['--exit-on-error', '--jobs=2', '--section=post-data', '--no-owner', `--dbname=${stores.postgres.url('toc_test')}`, copy], { encoding: 'utf8' });
    assert.equal(indexes.status, 0, indexes.stderr);
    assert.deepEqual(await indexesAndConstraints('toc_test'), originalIndexes);
  } finally {
    await query('postgres', 'DROP DATABASE IF EXISTS toc_test');
    rmSync(copy, { force: true });
    rmSync(`${copy}.whole`, { force: true });
  }
});

test('a stage whose stored archive is cut short fails with the decompressor\'s reason, leaving no staged database and no decoded copy', async () => {
  const source = await sourceOf('20261130_060300');
  const path = join(setPath, source.files.find((file) => file.role === 'custom-dump')!.name);
  const whole = readFileSync(path);
  writeFileSync(path, whole.subarray(0, Math.floor(whole.length * 0.7)));
  try {
    const safety = await activity((progress) => safetySnapshot(config, source, progress));
    const fresh = safety.references.fresh!;
    await assert.rejects(
      activity((progress) => stage(config, { ...source, safety, force: false }, progress)),
      /^ChildFailed: zstd exited with code \d+: .*premature end/,
    );
    assert.deepEqual(await query('postgres', `SELECT datname FROM pg_database WHERE datname = '${fresh}'`), []);
    assert.deepEqual(readdirSync(join(config.backupDir, '.tmp')), []);
    await activity((progress) => rollback(config, safety, progress));
    assert.deepEqual(await tableChecksums(stores.databaseUrl), original, 'the target is as it was');
  } finally {
    writeFileSync(path, whole);
  }
});
