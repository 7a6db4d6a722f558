/**
 * The Qdrant adapter against the Qdrant stand-in (test/support/qdrant-standin: NOT a real Qdrant, a
 * test server that follows Qdrant's REST schema and writes real tar snapshots).
 * Run: node --import tsx --test test/qdrant-adapter.test.ts
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { truncate } from 'node:fs/promises';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { after, before, test } from 'node:test';
import type { Logger } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { createQdrantAdapter } from '../activities/qdrant';
import { writeArchive } from '../activities/qdrant/archive';
import { INDEX_FORMAT } from '../activities/qdrant/collections-index';
import { downloadSnapshot, qdrantConnection, uploadSnapshot } from '../activities/qdrant/connection';
import { loadConfig, type Config } from '../core/config';
import type { RestoreSource, SafetySnapshot, StoreBackupResult } from '../core/contract';
import { sealSet, setDirectory, stageSet } from '../activities/repository/sets';
import { startQdrantStandIn as startStandIn, type QdrantStandIn, type QdrantStandInOptions } from './support/qdrant-standin';

/** Every stand-in of this file, so the last test can hold all their traffic against Qdrant's OpenAPI schema. */
const standIns: QdrantStandIn[] = [];
async function startQdrantStandIn(options: QdrantStandInOptions): Promise<QdrantStandIn> {
  const s = await startStandIn(options);
  standIns.push(s);
  return s;
}

type Json = any;

const API_KEY = 'qdrant-test-key-7f3a9c';
const scratch = mkdtempSync(join(tmpdir(), 'qdrant-adapter-test-'));
let dirs = 0;
const freshDir = (name: string): string => join(scratch, `${name}-${++dirs}`);

let standIn: QdrantStandIn;
let config: Config;
const backupDir = join(scratch, 'backup');

function configFor(s: QdrantStandIn, extra: Record<string, string> = {}): Config {
  return loadConfig({
    BACKUP_DIR: backupDir,
    LOG_DIR: join(scratch, 'logs'),
    QDRANT_URL: s.url,
    ...(s.apiKey ? { QDRANT_API_KEY: s.apiKey } : {}),
    ...extra,
  });
}

/** The mock environment logs every failed activity as a warning; expected failures need no noise. */
const quiet: Logger = { log() {}, trace() {}, debug() {}, info() {}, warn() {}, error() {} };
const mockEnvironment = (info: { attempt?: number } = {}) => new MockActivityEnvironment(info, { logger: quiet });

/** Runs an activity implementation inside a mock Temporal activity context (heartbeats, cancellation). */
function activity<A extends unknown[], R>(fn: (...args: A) => Promise<R>, ...args: A): Promise<R> {
  return mockEnvironment().run(fn, ...args);
}

async function call(s: QdrantStandIn, method: string, path: string, body?: unknown): Promise<Json> {
  const res = await fetch(s.url + path, {
    method,
    headers: { ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...(s.apiKey ? { 'api-key': s.apiKey } : {}) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  assert.equal(res.status, 200, `${method} ${path}: ${text}`);
  return JSON.parse(text).result;
}

/** A deterministic pseudo-random generator, so the data is the same on every run. */
function random(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state * 1103515245 + 12345) % 2147483648;
    return Math.round((state / 2147483648) * 2000 - 1000) / 1000;
  };
}
const vector = (next: () => number, size: number): number[] => Array.from({ length: size }, next);
const uuid = (i: number): string => `${i.toString(16).padStart(8, '0')}-0000-4000-8000-${(i * 7919).toString(16).padStart(12, '0')}`;

async function seed(s: QdrantStandIn): Promise<void> {
  const next = random(42);
  await call(s, 'PUT', '/collections/articles', { vectors: { size: 4, distance: 'Cosine' } });
  await call(s, 'PUT', '/collections/articles/points?wait=true', {
    points: Array.from({ length: 60 }, (_, i) => ({
      id: i + 1,
      vector: vector(next, 4),
      payload: { title: `Article ${i + 1}`, year: 2000 + (i % 25), tags: ['a', `t${i % 5}`], meta: { draft: i % 3 === 0 } },
    })),
  });
  await call(s, 'PUT', '/collections/chunks', {
    vectors: { dense: { size: 8, distance: 'Dot' }, title: { size: 3, distance: 'Euclid' } },
  });
  await call(s, 'PUT', '/collections/chunks/points?wait=true', {
    points: Array.from({ length: 40 }, (_, i) => ({
      id: uuid(i + 1),
      vector: { dense: vector(next, 8), title: vector(next, 3) },
      payload: { article: (i % 60) + 1, text: `chunk ${i} — ünïcödé`, position: i },
    })),
  });
  await call(s, 'PUT', '/collections/empty', { vectors: { size: 2, distance: 'Manhattan' } });
  await call(s, 'POST', '/collections/aliases', {
    actions: [
      { create_alias: { alias_name: 'articles_live', collection_name: 'articles' } },
      { create_alias: { alias_name: 'search', collection_name: 'chunks' } },
    ],
  });
}

/** Everything the adapter is responsible for: each collection's vectors config and every point, and the aliases. */
async function stateOf(s: QdrantStandIn): Promise<Json> {
  const collections: Record<string, Json> = {};
  for (const { name } of (await call(s, 'GET', '/collections')).collections) {
    const info = await call(s, 'GET', `/collections/${name}`);
    const points: Json[] = [];
    let offset: unknown = null;
    do {
      const page = await call(s, 'POST', `/collections/${name}/points/scroll`, {
        limit: 25,
        with_payload: true,
        with_vector: true,
        ...(offset === null ? {} : { offset }),
      });
      points.push(...page.points);
      offset = page.next_page_offset;
    } while (offset !== null);
    collections[name] = { params: info.config.params, points };
  }
  return { collections, aliases: (await call(s, 'GET', '/aliases')).aliases };
}

async function serverSnapshots(s: QdrantStandIn): Promise<Record<string, string[]>> {
  const result: Record<string, string[]> = {};
  for (const { name } of (await call(s, 'GET', '/collections')).collections) {
    result[name] = (await call(s, 'GET', `/collections/${name}/snapshots`)).map((d: Json) => d.name);
  }
  return result;
}

const noSnapshots = async (s: QdrantStandIn): Promise<void> => {
  const left = await serverSnapshots(s);
  assert.deepEqual(
    Object.entries(left).filter(([, names]) => names.length > 0),
    [],
    `snapshots left on the server: ${JSON.stringify(left)}`,
  );
};

let stamps = 0;
/** A staged set with a unique name (set names have one-second resolution). */
async function newSet() {
  return stageSet(backupDir, 'manual', new Date(Date.UTC(2026, 0, 1, 2, 0, stamps++)));
}

async function seal(set: Awaited<ReturnType<typeof stageSet>>, result: StoreBackupResult, checks: string[]): Promise<void> {
  await sealSet(
    backupDir,
    {
      set,
      stores: { qdrant: { status: 'ok', ...result, summary: result.summary!, checks } },
      startedAt: new Date().toISOString(),
      workflow: { id: 'qdrant-adapter-test', runId: 'run' },
    },
    { name: 'scholaria-backup', version: 'test' },
  );
}

function sha256Of(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex');
}

before(async () => {
  standIn = await startQdrantStandIn({ dataDir: freshDir('qdrant'), apiKey: API_KEY });
  config = configFor(standIn);
  await seed(standIn);
});

after(async () => {
  await standIn?.stop();
  rmSync(scratch, { recursive: true, force: true });
});

// ---- the round trip -----------------------------------------------------------------------

let original: Json;
let damaged: Json;
let set: Awaited<ReturnType<typeof stageSet>>;
let backupResult: StoreBackupResult;
let source: RestoreSource;
let safety: SafetySnapshot;

test('Qdrant (stand-in): probe reports the server version and its collections', async () => {
  const probe = await createQdrantAdapter(config).probe({ tier: 'manual' });
  assert.equal(probe.serverVersion, standIn.version);
  assert.match(probe.details.join('\n'), /Qdrant 1\.15\.5 at 127\.0\.0\.1:\d+ \(the test stand-in/);
  assert.match(probe.details.join('\n'), /3 collections/);
});

test('Qdrant (stand-in): backup streams one archive with collections.json and one snapshot per collection', async () => {
  original = await stateOf(standIn);
  set = await newSet();
  backupResult = await activity(createQdrantAdapter(config).backup, { set });
  const name = `qdrant_${set.stamp}/qdrant_snapshot.tar.gz`;
  assert.equal(backupResult.serverVersion, '1.15.5');
  assert.equal(backupResult.files.length, 1);
  const [file] = backupResult.files;
  assert.equal(file!.name, name);
  assert.equal(file!.role, 'qdrant-archive');
  const path = join(setDirectory(backupDir, set.name, 'staging'), name);
  assert.equal(statSync(path).size, file!.bytes);
  assert.equal(sha256Of(path), file!.sha256);
  assert.deepEqual(backupResult.summary, { unit: 'points', counts: { articles: 60, chunks: 40, empty: 0 } });
  assert.deepEqual(readdirSync(join(setDirectory(backupDir, set.name, 'staging'), `qdrant_${set.stamp}`)), ['qdrant_snapshot.tar.gz']);

  // GNU tar reads the archive, and every inner snapshot, as valid tars.
  const entries = execFileSync('tar', ['-tzf', path], { encoding: 'utf8' }).trim().split('\n');
  assert.deepEqual(entries, ['collections.json', 'articles.snapshot', 'chunks.snapshot', 'empty.snapshot']);
  const unpacked = freshDir('unpacked');
  mkdirSync(unpacked);
  execFileSync('tar', ['-xzf', path, '-C', unpacked]);
  assert.match(execFileSync('tar', ['-tf', join(unpacked, 'chunks.snapshot')], { encoding: 'utf8' }), /version\.info/);
  const index = JSON.parse(readFileSync(join(unpacked, 'collections.json'), 'utf8'));
  assert.equal(index.format, INDEX_FORMAT);
  assert.equal(index.qdrantVersion, '1.15.5');
  assert.deepEqual(index.aliases, original.aliases);
  const chunks = index.collections.find((c: Json) => c.name === 'chunks');
  assert.equal(chunks.points, 40);
  assert.equal(chunks.sha256, sha256Of(join(unpacked, 'chunks.snapshot')));
  assert.equal(chunks.sha256, chunks.qdrantChecksum);
  assert.deepEqual(chunks.config.params.vectors, original.collections.chunks.params.vectors);

  await noSnapshots(standIn);
  assert.ok(backupResult.phases.length >= 2);
});

test('Qdrant (stand-in): verify reads the archive and every inner snapshot to the end', async () => {
  const result = await activity(createQdrantAdapter(config).verify, {
    setName: set.name,
    location: 'staging' as const,
    files: backupResult.files,
    tier: 'manual' as const,
  });
  assert.deepEqual(result.summary, backupResult.summary);
  assert.match(result.checks.join('\n'), /chunks: snapshot of \d+ bytes matches its sha256, a complete tar of \d+ entries \([1-9]\d* sparse\), collection format 0\.4\.2/);
  await seal(set, backupResult, result.checks);
  source = {
    restoreId: 'r1',
    setName: set.name,
    files: backupResult.files,
    summary: backupResult.summary!,
    serverVersion: backupResult.serverVersion,
  };
});

test('Qdrant (stand-in): preflight shows what a restore would change, read-only, without problems', async () => {
  // Damage: one collection gone, one changed (points changed and deleted), one extra, an alias moved.
  await call(standIn, 'DELETE', '/collections/empty');
  await call(standIn, 'PUT', '/collections/articles/points?wait=true', {
    points: [1, 2, 3].map((id) => ({ id, vector: [0.5, 0.5, 0.5, 0.5], payload: { title: 'changed' } })),
  });
  await call(standIn, 'POST', '/collections/articles/points/delete?wait=true', { points: [10, 11, 12, 13, 14] });
  await call(standIn, 'PUT', '/collections/extra', { vectors: { size: 3, distance: 'Dot' } });
  await call(standIn, 'PUT', '/collections/extra/points?wait=true', { points: [{ id: 7, vector: [1, 2, 3], payload: { x: 1 } }] });
  await call(standIn, 'POST', '/collections/aliases', {
    actions: [
      { delete_alias: { alias_name: 'search' } },
      { create_alias: { alias_name: 'search', collection_name: 'extra' } },
    ],
  });
  damaged = await stateOf(standIn);

  const report = await activity(createQdrantAdapter(config).preflight, source);
  assert.deepEqual(report.problems, []);
  assert.deepEqual(report.current, { unit: 'points', counts: { articles: 55, chunks: 40, extra: 1 } });
  assert.ok(report.plan.includes("replace collection articles (55 points now, 60 in the set): deleted, then recreated from its snapshot with the set's config"), report.plan.join('\n'));
  assert.ok(report.plan.includes("replace collection chunks (40 points now, 40 in the set): deleted, then recreated from its snapshot with the set's config"), report.plan.join('\n'));
  assert.ok(report.plan.includes('create collection empty (0 points in the set)'), report.plan.join('\n'));
  assert.ok(report.plan.includes('delete collection extra (not in the set; 1 points now)'), report.plan.join('\n'));
  assert.ok(report.plan.includes('recreate aliases articles_live → articles, search → chunks'), report.plan.join('\n'));
  assert.ok(report.plan.includes('remove aliases search → extra'), report.plan.join('\n'));
  assert.match(report.details.join('\n'), /target: Qdrant 1\.15\.5/);
  assert.deepEqual(await stateOf(standIn), damaged, 'preflight changes nothing');
});

test('Qdrant (stand-in): restore brings back exactly the backed up points and aliases; a retry ends the same', async () => {
  safety = await activity(createQdrantAdapter(config).safetySnapshot, source);
  const dir = join(backupDir, '.safety', 'r1', 'qdrant');
  assert.equal(safety.references.dir, dir);
  assert.ok(existsSync(join(dir, 'collections.json')));
  assert.equal(readdirSync(dir).filter((f) => f.endsWith('.snapshot')).length, 3);
  await noSnapshots(standIn);

  const result = await activity(createQdrantAdapter(config).restore, { ...source, safety, force: false });
  assert.match(result.details.join('\n'), /deleted collection extra/);
  assert.deepEqual(await stateOf(standIn), original);
  await noSnapshots(standIn);

  // A retry (e.g. after a worker crash mid-restore) ends in the same state.
  await activity(createQdrantAdapter(config).restore, { ...source, safety, force: false });
  assert.deepEqual(await stateOf(standIn), original);
  await noSnapshots(standIn);
  assert.deepEqual(readdirSync(join(backupDir, '.tmp')), [], 'no scratch files are left');

  const summary = await activity(createQdrantAdapter(config).summarize, { restoreId: 'r1' });
  assert.deepEqual(summary, backupResult.summary);
});

test('Qdrant (stand-in): rollback brings back exactly the pre-restore state, twice in a row; release removes the safety folder', async () => {
  await activity(createQdrantAdapter(config).rollback, { restoreId: 'r1', safety });
  assert.deepEqual(await stateOf(standIn), damaged);
  await activity(createQdrantAdapter(config).rollback, { restoreId: 'r1', safety });
  assert.deepEqual(await stateOf(standIn), damaged);
  await noSnapshots(standIn);

  await activity(createQdrantAdapter(config).release, { restoreId: 'r1', safety, keep: true });
  assert.ok(existsSync(safety.references.dir!));
  await activity(createQdrantAdapter(config).release, { restoreId: 'r1', safety, keep: false });
  assert.ok(!existsSync(safety.references.dir!));
  assert.ok(!existsSync(join(backupDir, '.safety', 'r1')));
});

test('Qdrant (stand-in): rollback works when the restore failed half way', async () => {
  const before = await stateOf(standIn);
  const source2 = { ...source, restoreId: 'r2' };
  const safety2 = await activity(createQdrantAdapter(config).safetySnapshot, source2);
  // A half-done restore: the extra collection deleted and an alias dropped, then a failure.
  await call(standIn, 'DELETE', '/collections/extra');
  await call(standIn, 'POST', '/collections/aliases', { actions: [{ delete_alias: { alias_name: 'articles_live' } }] });
  await call(standIn, 'PUT', '/collections/halfmade', { vectors: { size: 2, distance: 'Cosine' } });
  await activity(createQdrantAdapter(config).rollback, { restoreId: 'r2', safety: safety2 });
  assert.deepEqual(await stateOf(standIn), before);
  await activity(createQdrantAdapter(config).release, { restoreId: 'r2', safety: safety2, keep: false });
});

test('Qdrant (stand-in): restore replaces a collection whose vectors config changed', async () => {
  await call(standIn, 'DELETE', '/collections/chunks');
  await call(standIn, 'PUT', '/collections/chunks', { vectors: { size: 5, distance: 'Cosine' } });
  const source3 = { ...source, restoreId: 'r3' };
  const report = await activity(createQdrantAdapter(config).preflight, source3);
  assert.ok(report.plan.some((line) => /^replace collection chunks .*config now differs: params\.vectors/.test(line)), report.plan.join('\n'));
  const safety3 = await activity(createQdrantAdapter(config).safetySnapshot, source3);
  const result = await activity(createQdrantAdapter(config).restore, { ...source3, safety: safety3, force: false });
  assert.match(result.details.join('\n'), /chunks: deleted and recreated/);
  assert.deepEqual(await stateOf(standIn), original);
  await activity(createQdrantAdapter(config).release, { restoreId: 'r3', safety: safety3, keep: false });
});

test('Qdrant (stand-in): QDRANT_COLLECTIONS limits backup, restore and summarize, and nothing else is deleted', async () => {
  const limited = configFor(standIn, { QDRANT_COLLECTIONS: 'articles' });
  const limitedSet = await newSet();
  const result = await activity(createQdrantAdapter(limited).backup, { set: limitedSet });
  assert.deepEqual(result.summary, { unit: 'points', counts: { articles: 60 } });
  const checks = (
    await activity(createQdrantAdapter(limited).verify, { setName: limitedSet.name, location: 'staging' as const, files: result.files, tier: 'manual' as const })
  ).checks;
  await seal(limitedSet, result, checks);
  await call(standIn, 'PUT', '/collections/other', { vectors: { size: 2, distance: 'Dot' } });
  await call(standIn, 'POST', '/collections/articles/points/delete?wait=true', { points: [1, 2] });
  const limitedSource = { restoreId: 'r4', setName: limitedSet.name, files: result.files, summary: result.summary!, serverVersion: result.serverVersion };
  const safety4 = await activity(createQdrantAdapter(limited).safetySnapshot, limitedSource);
  await activity(createQdrantAdapter(limited).restore, { ...limitedSource, safety: safety4, force: false });
  const state = await stateOf(standIn);
  assert.deepEqual(Object.keys(state.collections).sort(), ['articles', 'chunks', 'empty', 'other']);
  assert.deepEqual(state.collections.articles, original.collections.articles);
  assert.deepEqual(await activity(createQdrantAdapter(limited).summarize, { restoreId: 'r4' }), { unit: 'points', counts: { articles: 60 } });
  await activity(createQdrantAdapter(limited).release, { restoreId: 'r4', safety: safety4, keep: false });
  await call(standIn, 'DELETE', '/collections/other');
});

// ---- failures -----------------------------------------------------------------------------

test('Qdrant (stand-in): a snapshot whose checksum does not match fails the backup, naming the collection, and leaves nothing behind', async () => {
  standIn.corruptNextSnapshotChecksum('chunks');
  const failing = await newSet();
  await assert.rejects(activity(createQdrantAdapter(config).backup, { set: failing }), (error: Error) => {
    assert.equal(error.name, 'SnapshotChecksumMismatch');
    assert.match(error.message, /collection "chunks": the downloaded snapshot \S+ does not match Qdrant's checksum/);
    assert.match(error.message, /next attempt takes a fresh snapshot/);
    return true;
  });
  await noSnapshots(standIn);
  assert.ok(!existsSync(join(setDirectory(backupDir, failing.name, 'staging'), `qdrant_${failing.stamp}`)));

  // On a later attempt the same failure is final (non-retryable ChecksumMismatch).
  standIn.corruptNextSnapshotChecksum('articles');
  const retried = mockEnvironment({ attempt: 2 });
  await assert.rejects(retried.run(createQdrantAdapter(config).backup, { set: failing }), (error: Error) => {
    assert.equal(error.name, 'ChecksumMismatch');
    assert.match(error.message, /collection "articles"/);
    return true;
  });
  await noSnapshots(standIn);
});

test('Qdrant (stand-in): a cancelled backup stops its requests and leaves no snapshot on the server', async () => {
  const cancelled = await newSet();
  const environment = mockEnvironment();
  const phases: string[] = [];
  environment.on('heartbeat', (progress: { phase: string }) => {
    phases.push(progress.phase);
    if (progress.phase === 'downloading snapshot of chunks') environment.cancel();
  });
  await assert.rejects(environment.run(createQdrantAdapter(config).backup, { set: cancelled }));
  assert.ok(phases.includes('downloading snapshot of chunks'), phases.join(', '));
  assert.ok(!phases.includes('downloading snapshot of empty'), 'nothing runs after the cancellation');
  await noSnapshots(standIn);
  assert.ok(!existsSync(join(setDirectory(backupDir, cancelled.name, 'staging'), `qdrant_${cancelled.stamp}`)));
});

test('Qdrant (stand-in): collection names too long for a plain tar header survive the archive', async () => {
  const long = await startQdrantStandIn({ dataDir: freshDir('long') });
  const name = `${'long-collection-name-'.repeat(9)}end`;
  try {
    await call(long, 'PUT', `/collections/${name}`, { vectors: { size: 2, distance: 'Dot' } });
    await call(long, 'PUT', `/collections/${name}/points?wait=true`, { points: [{ id: 1, vector: [1, 2], payload: { a: 1 } }] });
    const longSet = await newSet();
    const result = await activity(createQdrantAdapter(configFor(long)).backup, { set: longSet });
    const path = join(setDirectory(backupDir, longSet.name, 'staging'), result.files[0]!.name);
    assert.deepEqual(execFileSync('tar', ['-tzf', path], { encoding: 'utf8' }).trim().split('\n'), ['collections.json', `${name}.snapshot`]);
    const verified = await activity(createQdrantAdapter(configFor(long)).verify, {
      setName: longSet.name,
      location: 'staging' as const,
      files: result.files,
      tier: 'manual' as const,
    });
    assert.deepEqual(verified.summary, { unit: 'points', counts: { [name]: 1 } });
  } finally {
    await long.stop();
  }
});

test('Qdrant (stand-in): verify fails with VerificationFailed naming the file for a truncated archive', async () => {
  const broken = await newSet();
  const name = `qdrant_${broken.stamp}/qdrant_snapshot.tar.gz`;
  const path = join(setDirectory(backupDir, broken.name, 'staging'), name);
  mkdirSync(join(setDirectory(backupDir, broken.name, 'staging'), `qdrant_${broken.stamp}`));
  const whole = readFileSync(join(setDirectory(backupDir, set.name, 'sealed'), backupResult.files[0]!.name));
  writeFileSync(path, whole.subarray(0, Math.floor(whole.length * 0.6)));
  const files = [{ name, bytes: statSync(path).size, sha256: sha256Of(path), role: 'qdrant-archive' }];
  await assert.rejects(
    activity(createQdrantAdapter(config).verify, { setName: broken.name, location: 'staging' as const, files, tier: 'manual' as const }),
    (error: Error) => {
      assert.equal(error.name, 'VerificationFailed');
      assert.ok(error.message.startsWith(`${name}: `), error.message);
      assert.match(error.message, /cannot be decompressed to its end|truncated/);
      return true;
    },
  );
});

test('Qdrant (stand-in): verify fails when an inner snapshot is not a complete tar', async () => {
  const broken = await newSet();
  const folder = join(setDirectory(backupDir, broken.name, 'staging'), `qdrant_${broken.stamp}`);
  mkdirSync(folder);
  // A snapshot cut at 1536 bytes: its own sha256 is consistent, but its tar has no end.
  const unpacked = freshDir('inner');
  mkdirSync(unpacked);
  execFileSync('tar', ['-xzf', join(setDirectory(backupDir, set.name, 'sealed'), backupResult.files[0]!.name), '-C', unpacked]);
  const cut = readFileSync(join(unpacked, 'articles.snapshot')).subarray(0, 1536);
  const sha256 = createHash('sha256').update(cut).digest('hex');
  const index = JSON.parse(readFileSync(join(unpacked, 'collections.json'), 'utf8'));
  index.collections = index.collections
    .filter((c: Json) => c.name === 'articles')
    .map((c: Json) => ({ ...c, sha256, bytes: cut.length }));
  const path = join(folder, 'qdrant_snapshot.tar.gz');
  // The backup refuses to write it: every snapshot is walked as a tar while the archive is written.
  await assert.rejects(
    writeArchive(
      path,
      index,
      [{ entryName: 'articles.snapshot', size: cut.length, sha256, open: async () => [cut], mismatch: () => new Error('unexpected') }],
      { encoding: { compression: config.compression, recipients: [] } },
    ),
    /articles\.snapshot is not a complete Qdrant snapshot: .*truncated/,
  );
  assert.equal(existsSync(path), false, 'no archive is left behind');
  // Such an archive made by hand (collections.json first, as the set's archive has it) is refused by verify.
  const handMade = freshDir('hand-made');
  mkdirSync(handMade);
  writeFileSync(join(handMade, 'collections.json'), `${JSON.stringify(index)}\n`);
  writeFileSync(join(handMade, 'articles.snapshot'), cut);
  execFileSync('tar', ['-czf', path, '-C', handMade, 'collections.json', 'articles.snapshot']);
  const written = { bytes: statSync(path).size, sha256: createHash('sha256').update(readFileSync(path)).digest('hex') };
  const files = [{ name: `qdrant_${broken.stamp}/qdrant_snapshot.tar.gz`, bytes: written.bytes, sha256: written.sha256, role: 'qdrant-archive' }];
  await assert.rejects(
    activity(createQdrantAdapter(config).verify, { setName: broken.name, location: 'staging' as const, files, tier: 'manual' as const }),
    (error: Error) => {
      assert.equal(error.name, 'VerificationFailed');
      assert.match(error.message, /articles\.snapshot is not a complete Qdrant snapshot: .*truncated/);
      return true;
    },
  );
});

test('Qdrant (stand-in): preflight reports, and restore refuses, a set made by a newer Qdrant', async () => {
  const newer = await startQdrantStandIn({ dataDir: freshDir('newer'), version: '1.16.0' });
  const older = await startQdrantStandIn({ dataDir: freshDir('older'), version: '1.15.0' });
  try {
    await call(newer, 'PUT', '/collections/docs', { vectors: { size: 2, distance: 'Dot' } });
    await call(newer, 'PUT', '/collections/docs/points?wait=true', { points: [{ id: 1, vector: [1, 2] }] });
    await call(older, 'PUT', '/collections/keep', { vectors: { size: 2, distance: 'Dot' } });
    const newerSet = await newSet();
    const result = await activity(createQdrantAdapter(configFor(newer)).backup, { set: newerSet });
    assert.equal(result.serverVersion, '1.16.0');
    await seal(newerSet, result, []);
    const newerSource = { restoreId: 'r5', setName: newerSet.name, files: result.files, summary: result.summary!, serverVersion: '1.16.0' };
    const report = await activity(createQdrantAdapter(configFor(older)).preflight, newerSource);
    assert.equal(report.problems.length, 1, report.problems.join('\n'));
    assert.match(report.problems[0]!, /^Version check: the set was made by Qdrant 1\.16\.0, newer than the target's 1\.15\.0/);
    const safety5 = await activity(createQdrantAdapter(configFor(older)).safetySnapshot, newerSource);
    await assert.rejects(activity(createQdrantAdapter(configFor(older)).restore, { ...newerSource, safety: safety5, force: false }), {
      name: 'IncompatibleVersion',
    });
    assert.deepEqual(
      (await call(older, 'GET', '/collections')).collections.map((c: Json) => c.name),
      ['keep'],
      'a refused restore changes nothing',
    );
  } finally {
    await newer.stop();
    await older.stop();
  }
});

test('Qdrant (stand-in): a wrong or missing API key fails with a message naming host:port, never a key', async () => {
  const wrongKey = 'wrong-key-for-test-91b2';
  const wrong = configFor(standIn, { QDRANT_API_KEY: wrongKey });
  const messages: string[] = [];
  for (const attempt of [
    () => createQdrantAdapter(wrong).probe({ tier: 'manual' }),
    async () => activity(createQdrantAdapter(wrong).backup, { set: await newSet() }),
    () => activity(createQdrantAdapter(wrong).summarize, { restoreId: 'r6' }),
    () => activity(createQdrantAdapter(wrong).preflight, { ...source, restoreId: 'r6' }).then((report) => {
      throw new Error(report.problems.join('; '));
    }),
    () => createQdrantAdapter(configFor({ ...standIn, apiKey: undefined } as QdrantStandIn)).probe({ tier: 'manual' }),
  ]) {
    await assert.rejects(attempt(), (error: Error) => {
      messages.push(`${error.name}: ${error.message}\n${error.stack ?? ''}`);
      return true;
    });
  }
  for (const message of messages) {
    assert.ok(!message.includes(wrongKey), message);
    assert.ok(!message.includes(API_KEY), message);
    assert.match(message, new RegExp(`Qdrant at 127\\.0\\.0\\.1:${standIn.port}.*HTTP 401`));
  }
  assert.match(messages[0]!, /^ConfigError: .*check QDRANT_API_KEY/);
});

test('Qdrant (stand-in): an unreachable server is named by host:port', async () => {
  const closed = http.createServer();
  await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
  const { port } = closed.address() as AddressInfo;
  await new Promise<void>((resolve) => closed.close(() => resolve()));
  const unreachable = loadConfig({ BACKUP_DIR: backupDir, LOG_DIR: join(scratch, 'logs'), QDRANT_URL: `http://127.0.0.1:${port}`, QDRANT_API_KEY: API_KEY });
  await assert.rejects(createQdrantAdapter(unreachable).probe({ tier: 'manual' }), (error: Error) => {
    assert.match(error.message, new RegExp(`Qdrant at 127\\.0\\.0\\.1:${port} is unreachable .*ECONNREFUSED`));
    assert.ok(!error.message.includes(API_KEY));
    return true;
  });
  await assert.rejects(createQdrantAdapter(loadConfig({ BACKUP_DIR: backupDir })).probe({ tier: 'manual' }), { name: 'ConfigError' });
});

test('Qdrant (stand-in): a snapshot for which Qdrant reports no checksum is hashed on download, and noted', async () => {
  // A proxy in front of the stand-in drops `checksum` from snapshot creation answers, as Qdrant before 1.8 did.
  const target = new URL(standIn.url);
  const proxy = http.createServer((req, res) => {
    const upstream = http.request(
      { host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers },
      (answer) => {
        if (req.method === 'POST' && /^\/collections\/[^/]+\/snapshots(\?|$)/.test(req.url ?? '')) {
          const chunks: Buffer[] = [];
          answer.on('data', (chunk: Buffer) => chunks.push(chunk));
          answer.on('end', () => {
            const body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
            if (body.result) body.result.checksum = null;
            res.writeHead(answer.statusCode ?? 500, { 'content-type': 'application/json' }).end(JSON.stringify(body));
          });
          return;
        }
        res.writeHead(answer.statusCode ?? 500, answer.headers);
        answer.pipe(res);
      },
    );
    req.pipe(upstream);
  });
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  try {
    const viaProxy = loadConfig({
      BACKUP_DIR: backupDir,
      LOG_DIR: join(scratch, 'logs'),
      QDRANT_URL: `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`,
      QDRANT_API_KEY: API_KEY,
      QDRANT_COLLECTIONS: 'chunks,empty',
    });
    const noChecksumSet = await newSet();
    const result = await activity(createQdrantAdapter(viaProxy).backup, { set: noChecksumSet });
    assert.match(result.notes.join('\n'), /Qdrant reported no checksum for the snapshot of chunks; its sha256 was computed from the download/);
    const folder = join(setDirectory(backupDir, noChecksumSet.name, 'staging'), `qdrant_${noChecksumSet.stamp}`);
    assert.deepEqual(readdirSync(folder), ['qdrant_snapshot.tar.gz'], 'no download is left beside the archive');
    const verified = await activity(createQdrantAdapter(viaProxy).verify, {
      setName: noChecksumSet.name,
      location: 'staging' as const,
      files: result.files,
      tier: 'manual' as const,
    });
    assert.deepEqual(verified.summary, { unit: 'points', counts: { chunks: 40, empty: 0 } });
    await noSnapshots(standIn);
  } finally {
    proxy.closeAllConnections();
    await new Promise<void>((resolve) => proxy.close(() => resolve()));
  }
});

test('Qdrant (stand-in): a zero-collection server is a valid, empty backup', async () => {
  const empty = await startQdrantStandIn({ dataDir: freshDir('empty') });
  try {
    const emptySet = await newSet();
    const result = await activity(createQdrantAdapter(configFor(empty)).backup, { set: emptySet });
    assert.deepEqual(result.summary, { unit: 'points', counts: {} });
    const verified = await activity(createQdrantAdapter(configFor(empty)).verify, {
      setName: emptySet.name,
      location: 'staging' as const,
      files: result.files,
      tier: 'manual' as const,
    });
    assert.deepEqual(verified.summary, { unit: 'points', counts: {} });
  } finally {
    await empty.stop();
  }
});

// ---- fidelity to a real Qdrant (issue 14) ------------------------------------------------------

/** Backs up `s` into a new sealed set; returns what a restore of it needs. */
async function sealedBackup(s: QdrantStandIn, restoreId: string, extra: Record<string, string> = {}): Promise<RestoreSource> {
  const staged = await newSet();
  const result = await activity(createQdrantAdapter(configFor(s, extra)).backup, { set: staged });
  const checks = (
    await activity(createQdrantAdapter(configFor(s, extra)).verify, { setName: staged.name, location: 'staging' as const, files: result.files, tier: 'manual' as const })
  ).checks;
  await seal(staged, result, checks);
  return { restoreId, setName: staged.name, files: result.files, summary: result.summary!, serverVersion: result.serverVersion };
}

/** Collection info as a user compares it: the full config and the payload indexes (without their point counts). */
async function configOf(s: QdrantStandIn, name: string): Promise<Json> {
  const info = await call(s, 'GET', `/collections/${name}`);
  const indexes = Object.fromEntries(Object.entries(info.payload_schema).map(([field, { points: _points, ...schema }]: [string, Json]) => [field, schema]));
  return { config: info.config, indexes };
}

test('Qdrant (stand-in): a set whose snapshots carry version.info 0.4.2 restores onto a 1.16 server; the recorded server version is what is judged', async () => {
  const source15 = await startQdrantStandIn({ dataDir: freshDir('v115'), version: '1.15.5' });
  const target16 = await startQdrantStandIn({ dataDir: freshDir('v116'), version: '1.16.3' });
  try {
    await call(source15, 'PUT', '/collections/docs', { vectors: { size: 2, distance: 'Dot' } });
    await call(source15, 'PUT', '/collections/docs/points?wait=true', { points: [{ id: 1, vector: [1, 2], payload: { a: 1 } }, { id: 2, vector: [3, 4] }] });
    const made = await sealedBackup(source15, 'v1');
    assert.equal(made.serverVersion, '1.15.5');
    const unpacked = freshDir('v-unpacked');
    mkdirSync(unpacked);
    execFileSync('tar', ['-xzf', join(setDirectory(backupDir, made.setName, 'sealed'), made.files[0]!.name), '-C', unpacked]);
    assert.equal(execFileSync('tar', ['-xOf', join(unpacked, 'docs.snapshot'), 'version.info'], { encoding: 'utf8' }), '0.4.2');

    const target = configFor(target16);
    const report = await activity(createQdrantAdapter(target).preflight, made);
    assert.deepEqual(report.problems, []);
    const safetyV = await activity(createQdrantAdapter(target).safetySnapshot, made);
    await activity(createQdrantAdapter(target).restore, { ...made, safety: safetyV, force: false });
    assert.deepEqual((await stateOf(target16)).collections, (await stateOf(source15)).collections);
    await activity(createQdrantAdapter(target).release, { restoreId: 'v1', safety: safetyV, keep: false });

    // The same set, its manifest saying a newer minor made it than the 1.15 target runs: refused before anything changes.
    const older = configFor(source15);
    const newer = { ...made, serverVersion: '1.16.0' };
    const refused = await activity(createQdrantAdapter(older).preflight, newer);
    assert.ok(refused.problems.some((p) => /1\.16\.0/.test(p)), refused.problems.join('\n'));
  } finally {
    await source15.stop();
    await target16.stop();
  }
});

test('Qdrant (stand-in): restore into an existing collection with another HNSW config and payload index brings back the backed-up config and indexes', async () => {
  const s = await startQdrantStandIn({ dataDir: freshDir('config') });
  try {
    await call(s, 'PUT', '/collections/papers', { vectors: { size: 2, distance: 'Cosine' }, shard_number: 2, sparse_vectors: { words: {} } });
    await call(s, 'PUT', '/collections/papers/index?wait=true', { field_name: 'year', field_schema: 'integer' });
    await call(s, 'PUT', '/collections/papers/points?wait=true', {
      points: Array.from({ length: 12 }, (_, i) => ({ id: i + 1, vector: { '': [1, i], words: { indices: [i], values: [1] } }, payload: { year: 2000 + i } })),
    });
    const backedUp = await configOf(s, 'papers');
    const state = await stateOf(s);
    const made = await sealedBackup(s, 'c1');
    await call(s, 'DELETE', '/collections/papers');
    await call(s, 'PUT', '/collections/papers', { vectors: { size: 2, distance: 'Cosine' }, shard_number: 2, sparse_vectors: { words: {} }, hnsw_config: { m: 48, ef_construct: 300 } });
    await call(s, 'PUT', '/collections/papers/index?wait=true', { field_name: 'title', field_schema: 'keyword' });
    assert.notDeepEqual(await configOf(s, 'papers'), backedUp);

    const safetyC = await activity(createQdrantAdapter(configFor(s)).safetySnapshot, made);
    const result = await activity(createQdrantAdapter(configFor(s)).restore, { ...made, safety: safetyC, force: false });
    assert.match(result.details.join('\n'), /papers: deleted and recreated from its snapshot, with the snapshot's config/);
    assert.deepEqual(await configOf(s, 'papers'), backedUp);
    assert.deepEqual(await stateOf(s), state);
    await activity(createQdrantAdapter(configFor(s)).release, { restoreId: 'c1', safety: safetyC, keep: false });
  } finally {
    await s.stop();
  }
});

test('Qdrant (stand-in): an alias action failing midway through a restore is rolled back to the state before the restore', async () => {
  const s = await startQdrantStandIn({ dataDir: freshDir('aliases') });
  try {
    for (const name of ['a', 'b']) {
      await call(s, 'PUT', `/collections/${name}`, { vectors: { size: 2, distance: 'Dot' } });
      await call(s, 'PUT', `/collections/${name}/points?wait=true`, { points: [{ id: 1, vector: [1, 1] }] });
    }
    await call(s, 'POST', '/collections/aliases', {
      actions: [
        { create_alias: { alias_name: 'live', collection_name: 'a' } },
        { create_alias: { alias_name: 'old', collection_name: 'b' } },
      ],
    });
    const made = await sealedBackup(s, 'al1');
    // Before the restore: the aliases moved, one more added.
    await call(s, 'POST', '/collections/aliases', {
      actions: [
        { create_alias: { alias_name: 'live', collection_name: 'b' } },
        { delete_alias: { alias_name: 'old' } },
        { create_alias: { alias_name: 'next', collection_name: 'a' } },
      ],
    });
    const before = await stateOf(s);
    const safetyA = await activity(createQdrantAdapter(configFor(s)).safetySnapshot, made);
    s.failAliasActionAfter(1); // the restore's first alias change is saved, the second fails
    await assert.rejects(activity(createQdrantAdapter(configFor(s)).restore, { ...made, safety: safetyA, force: false }), (error: Error) => {
      assert.match(error.message, /alias change .* failed; done before it: /);
      return true;
    });
    assert.notDeepEqual((await stateOf(s)).aliases, before.aliases, 'the failure left the aliases half changed');
    await activity(createQdrantAdapter(configFor(s)).rollback, { restoreId: 'al1', safety: safetyA });
    assert.deepEqual(await stateOf(s), before);
    await activity(createQdrantAdapter(configFor(s)).release, { restoreId: 'al1', safety: safetyA, keep: false });
  } finally {
    await s.stop();
  }
});

test('Qdrant (stand-in): an upload that fails after Qdrant created the collection leaves no empty collection; the retry restores it', async () => {
  const s = await startQdrantStandIn({ dataDir: freshDir('halfmade') });
  try {
    await call(s, 'PUT', '/collections/docs', { vectors: { size: 2, distance: 'Dot' } });
    await call(s, 'PUT', '/collections/docs/points?wait=true', { points: [{ id: 1, vector: [1, 1] }, { id: 2, vector: [2, 1] }] });
    const original2 = await stateOf(s);
    const made = await sealedBackup(s, 'h1');
    const safetyH = await activity(createQdrantAdapter(configFor(s)).safetySnapshot, made);
    s.failNextUploads(1, true);
    await assert.rejects(activity(createQdrantAdapter(configFor(s)).restore, { ...made, safety: safetyH, force: false }), /HTTP 500/);
    assert.deepEqual((await call(s, 'GET', '/collections')).collections, [], 'the empty collection the failed recovery made is gone');
    await activity(createQdrantAdapter(configFor(s)).restore, { ...made, safety: safetyH, force: false });
    assert.deepEqual(await stateOf(s), original2);
    await activity(createQdrantAdapter(configFor(s)).release, { restoreId: 'h1', safety: safetyH, keep: false });
  } finally {
    await s.stop();
  }
});

test('Qdrant (stand-in): a read-only key stops a restore at its first write (the safety snapshot) with one line asking for a full-access key', async () => {
  const s = await startQdrantStandIn({ dataDir: freshDir('readonly'), apiKey: API_KEY, readOnlyApiKey: 'read-only-key-1' });
  try {
    await call(s, 'PUT', '/collections/docs', { vectors: { size: 2, distance: 'Dot' } });
    const made = await sealedBackup(s, 'ro1');
    const readOnly = configFor(s, { QDRANT_API_KEY: 'read-only-key-1' });
    const safetyR = await activity(createQdrantAdapter(readOnly).safetySnapshot, made).catch((error: Error) => error);
    // Taking a snapshot is a write too: a read-only key stops at the safety snapshot already.
    assert.ok(safetyR instanceof Error);
    assert.equal(safetyR.name, 'ConfigError');
    assert.match(safetyR.message, /HTTP 403 .*full-access key/);
    assert.doesNotMatch(safetyR.message, /read-only-key-1/);
  } finally {
    await s.stop();
  }
});

test('Qdrant (stand-in): points written while a snapshot is taken are recorded as a range; the restore accepts what the snapshot holds', async () => {
  const s = await startQdrantStandIn({ dataDir: freshDir('live-writes') });
  try {
    await call(s, 'PUT', '/collections/docs', { vectors: { size: 2, distance: 'Dot' } });
    await call(s, 'PUT', '/collections/docs/points?wait=true', { points: [1, 2, 3].map((id) => ({ id, vector: [id, 1] })) });
    const snapshotted = await stateOf(s);
    s.writeAfterNextSnapshot('docs', [{ id: 4, vector: [4, 1] }]);
    const made = await sealedBackup(s, 'w1');
    const unpacked = freshDir('w-unpacked');
    mkdirSync(unpacked);
    execFileSync('tar', ['-xzf', join(setDirectory(backupDir, made.setName, 'sealed'), made.files[0]!.name), '-C', unpacked]);
    const recorded = JSON.parse(readFileSync(join(unpacked, 'collections.json'), 'utf8')).collections[0];
    assert.equal(recorded.points, 4);
    assert.deepEqual(recorded.pointsRange, [3, 4]);
    const safetyW = await activity(createQdrantAdapter(configFor(s)).safetySnapshot, made);
    const result = await activity(createQdrantAdapter(configFor(s)).restore, { ...made, safety: safetyW, force: false });
    assert.deepEqual(result.expected, { unit: 'points', counts: { docs: 3 } }, 'what the target must hold: what the snapshot held');
    assert.deepEqual(await stateOf(s), snapshotted);
    await activity(createQdrantAdapter(configFor(s)).release, { restoreId: 'w1', safety: safetyW, keep: false });
  } finally {
    await s.stop();
  }
});

test('Qdrant (stand-in): every request sent and every answer given above holds against Qdrant\'s OpenAPI schema', () => {
  assert.ok(standIns.length >= 5);
  assert.equal(standIns[0]!.openApiVersion, 'v1.16.x');
  assert.deepEqual(standIns.flatMap((s) => s.contractViolations()), []);
});

// ---- streaming ----------------------------------------------------------------------------

test('Qdrant (stand-in): snapshot download and upload stream, without holding a file in memory', async (t) => {
  const SIZE = 384 * 1024 * 1024;
  const block = Buffer.alloc(1 << 20, 7);
  let uploaded = { bytes: 0, sha256: '' };
  // A minimal server speaking the two snapshot endpoints, generating and swallowing data on the fly.
  const server = http.createServer((req, res) => {
    if (req.method === 'GET') {
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': SIZE });
      let sent = 0;
      const pump = (): void => {
        while (sent < SIZE) {
          sent += block.length;
          if (!res.write(block)) return void res.once('drain', pump);
        }
        res.end();
      };
      return pump();
    }
    const hash = createHash('sha256');
    let bytes = 0;
    req.on('data', (chunk: Buffer) => {
      bytes += chunk.length;
      hash.update(chunk);
    });
    req.on('end', () => {
      uploaded = { bytes, sha256: hash.digest('hex') };
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"result":true,"status":"ok","time":0}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const q = qdrantConnection(
    loadConfig({ BACKUP_DIR: backupDir, LOG_DIR: join(scratch, 'logs'), QDRANT_URL: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, QDRANT_API_KEY: API_KEY }),
  );
  let peak = 0;
  const baseline = process.memoryUsage().rss;
  const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss - baseline)), 20);
  try {
    const response = await downloadSnapshot(q, 'big', 'big.snapshot');
    const hash = createHash('sha256');
    let bytes = 0;
    await pipeline(response, async (source: AsyncIterable<Buffer>) => {
      for await (const chunk of source) {
        bytes += chunk.length;
        hash.update(chunk);
      }
    });
    assert.equal(bytes, SIZE);

    const file = join(scratch, 'big.snapshot');
    writeFileSync(file, '');
    await truncate(file, SIZE); // sparse: creating it costs no memory either
    const fileHash = createHash('sha256');
    await pipeline(createReadStream(file), fileHash);
    const sha256 = fileHash.digest('hex');
    await uploadSnapshot(q, 'big', { path: file, size: SIZE, sha256, uploadName: 'big.snapshot' });
    assert.ok(uploaded.bytes > SIZE && uploaded.bytes < SIZE + 1024, `${uploaded.bytes} bytes uploaded`);
    rmSync(file);
  } finally {
    clearInterval(sampler);
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
  t.diagnostic(`resident memory grew by at most ${Math.round(peak / 1024 / 1024)} MiB while moving ${SIZE / 1024 / 1024} MiB each way`);
  assert.ok(peak < 150 * 1024 * 1024, `resident memory grew by ${Math.round(peak / 1024 / 1024)} MiB while moving ${SIZE / 1024 / 1024} MiB`);
});
