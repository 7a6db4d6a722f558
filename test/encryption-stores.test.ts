/**
 * Encrypted sets of all three stores, end to end: the real `age` binary, a private PostgreSQL and
 * redis-server, the Qdrant STAND-IN of test/support/qdrant-standin (no Qdrant server can run here),
 * the real Temporal dev server, worker and CLI. The backup runs the three adapters' backup activities
 * (inside a Temporal activity context, as the worker runs them) on a host that holds only the
 * recipient, and seals the set with the repository, as encryption-redis.test.ts does: the backup
 * workflow does not yet hand the recipients to its seal step. Restores and verifies go through the
 * CLI, the workflows and a worker given the identity (or none, or a wrong one).
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Logger } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { Redis } from 'ioredis';
import { Client } from 'pg';
import { withProgress } from '../activities/heartbeat';
import { preflight as postgresPreflight } from '../activities/postgres/preflight';
import { restoreInto } from '../activities/postgres/restore';
import { verify as postgresVerify } from '../activities/postgres/verify';
import { preflight as qdrantPreflight } from '../activities/qdrant/preflight';
import { restore as qdrantRestore } from '../activities/qdrant/restore';
import { release as qdrantRelease, rollback as qdrantRollback, safetySnapshot as qdrantSafetySnapshot } from '../activities/qdrant/safety';
import { verify as qdrantVerify } from '../activities/qdrant/verify';
import { readManifest } from '../activities/repository/sets';
import { loadConfig, type Config } from '../core/config';
import type { RestoreSource } from '../core/contract';
import type { StoreSucceeded } from '../core/manifest';
import type { StoreName } from '../core/stores';
import { seedQdrant } from '../devstack/seed';
import { qdrantFingerprint, redisDifferences, redisFingerprint, tableChecksums } from './support/fingerprints';
import { startQdrantStandIn, type QdrantStandIn } from './support/qdrant-standin';
import { seedStores, sha256sumCheck, TEST_SCALE } from './support/scholaria';
import { environmentFor, runCli, startStores, startWorker, type Stores } from './support/stack';

const quiet: Logger = { log() {}, trace() {}, debug() {}, info() {}, warn() {}, error() {} };

let stores: Stores;
let standIn: QdrantStandIn;
/** Random, so compression cannot hide them: one per store, found in the decrypted files, never in the set. */
const canary = {
  postgres: `pgcanary-${randomBytes(8).toString('hex')}`,
  redis: `rediscanary-${randomBytes(8).toString('hex')}`,
  qdrant: `qdrantcanary-${randomBytes(8).toString('hex')}`,
};
let identityFile: string;
let otherIdentityFile: string;
let recipient: string;

function ageKeyPair(name: string): { recipient: string; identityFile: string } {
  const file = join(stores.dir, `${name}.txt`);
  execFileSync('age-keygen', ['-o', file], { stdio: 'ignore' });
  return { recipient: execFileSync('age-keygen', ['-y', file], { encoding: 'utf8' }).trim(), identityFile: file };
}

async function sql(text: string): Promise<void> {
  const client = new Client({ connectionString: stores.databaseUrl });
  await client.connect();
  try {
    await client.query(text);
  } finally {
    await client.end();
  }
}

async function qdrant(method: string, path: string, body?: unknown): Promise<void> {
  const response = await fetch(`${standIn.url}${path}`, { method, headers: { 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
  assert.ok(response.ok, `${method} ${path}: ${response.status}`);
}

async function fingerprint() {
  return { tables: await tableChecksums(stores.databaseUrl), keys: await redisFingerprint(stores.redis.url), qdrant: await qdrantFingerprint(standIn.url) };
}

async function assertState(expected: Awaited<ReturnType<typeof fingerprint>>): Promise<void> {
  const now = await fingerprint();
  assert.deepEqual(now.tables, expected.tables);
  assert.deepEqual(redisDifferences(expected.keys, now.keys, 60), []);
  assert.deepEqual(now.qdrant, expected.qdrant);
}

/** Damage in every store, so a restore that did nothing cannot pass. */
async function damage(): Promise<void> {
  await sql(`UPDATE users SET display_name = 'changed'; DELETE FROM encrypted_canary`);
  const redis = new Redis(stores.redis.url);
  try {
    await redis.del('canary');
    await redis.set('intruder', 'x');
  } finally {
    redis.disconnect();
  }
  await qdrant('DELETE', '/collections/scholaria_documents');
  await qdrant('POST', '/collections/scholaria_chunks/points/delete?wait=true', { points: [2, 3, 4] });
}

/** Runs an activity implementation with a progress reporter, inside a Temporal activity context. */
function activity<T>(work: (progress: Parameters<Parameters<typeof withProgress>[0]>[0]) => Promise<T>): Promise<T> {
  return new MockActivityEnvironment({}, { logger: quiet }).run(() => withProgress(work));
}

function backupEnv(overrides: Record<string, string> = {}): Record<string, string> {
  return environmentFor(stores, { QDRANT_URL: standIn.url, BACKUP_COMPONENTS: 'postgres,redis,qdrant', BACKUP_ENCRYPTION_RECIPIENTS: recipient, ...overrides });
}

/**
 * Backs up the three stores through the CLI, the backup workflow and a worker that holds only the
 * recipients. Every store must have made its checks on the plaintext while writing, so nothing was read
 * back (which would need the identity). Returns the sealed set's folder.
 */
async function backUpEncrypted(env: Record<string, string>): Promise<string> {
  const worker = await startWorker(env);
  try {
    const result = await runCli(['backup', '--json'], env);
    assert.equal(result.code, 0, result.stderr + result.stdout);
    const { set, stores: outcomes } = JSON.parse(result.stdout) as { set: { path: string }; stores: Record<string, { checks?: string[] }> };
    for (const [store, outcome] of Object.entries(outcomes)) {
      assert.ok(
        outcome.checks?.some((line) => /encrypted with age to 1 recipient; checked on the plaintext before encryption/.test(line)),
        `${store}: ${(outcome.checks ?? []).join('\n')}`,
      );
    }
    return set.path;
  } finally {
    await worker.stop();
  }
}

/** `age -d -i <identity>` of a stored file, then `then` (a shell pipeline reading stdin). */
function decrypted(path: string, then: string): string {
  return execFileSync('bash', ['-c', `set -o pipefail; age -d -i "$1" "$2" | ${then}`, 'bash', identityFile, path], { encoding: 'utf8', maxBuffer: 256 << 20 });
}

/** Every file of every set folder under `backupDir` (and the repository's own folders), for grep. */
function grepUnder(dir: string, text: string): string {
  return spawnSync('grep', ['-r', '-l', '-a', '-F', text, dir], { encoding: 'utf8' }).stdout;
}

before(async () => {
  stores = await startStores('encryption-stores');
  standIn = await startQdrantStandIn({ dataDir: join(stores.dir, 'qdrant-standin') });
  await seedStores(stores);
  await seedQdrant(standIn.url, TEST_SCALE);
  await sql(`CREATE TABLE encrypted_canary (id int PRIMARY KEY, note text NOT NULL); INSERT INTO encrypted_canary VALUES (1, '${canary.postgres}')`);
  const redis = new Redis(stores.redis.url);
  await redis.set('canary', canary.redis).finally(() => redis.disconnect());
  await qdrant('PUT', '/collections/scholaria_chunks/points?wait=true', { points: [{ id: 900001, vector: Array.from({ length: 16 }, (_, i) => i / 16), payload: { secret: canary.qdrant } }] });
  const keys = ageKeyPair('identity');
  recipient = keys.recipient;
  identityFile = keys.identityFile;
  otherIdentityFile = ageKeyPair('other').identityFile;
});

after(async () => {
  await standIn?.stop();
  await stores?.stop();
});

describe('an encrypted set of PostgreSQL, Redis and Qdrant (stand-in), through the CLI', () => {
  let setPath: string;
  let stamp: string;
  let atBackup: Awaited<ReturnType<typeof fingerprint>>;
  let config: Config;
  const records = new Map<StoreName, StoreSucceeded>();
  const files = (store: StoreName) => records.get(store)!.files;

  before(async () => {
    const env = backupEnv();
    config = loadConfig({ ...env, BACKUP_ENCRYPTION_IDENTITY_FILE: identityFile });
    setPath = await backUpEncrypted(env);
    stamp = setPath.slice(-15);
    atBackup = await fingerprint();
    const manifest = await readManifest(setPath);
    for (const store of ['postgres', 'redis', 'qdrant'] as const) {
      const record = manifest.stores[store];
      assert.equal(record?.status, 'ok', `${store}: ${JSON.stringify(record)}`);
      if (record?.status === 'ok') records.set(store, record);
    }
  });

  function sourceOf(store: StoreName, restoreId: string): RestoreSource {
    const { files: storeFiles, summary, serverVersion } = records.get(store)!;
    return { restoreId, setName: setPath.slice(setPath.lastIndexOf('/') + 1), files: storeFiles, summary, serverVersion };
  }

  test('every data file is compressed, then encrypted, under the names the issue gives; SHA256SUMS passes on the ciphertext', async () => {
    const names = [...records.values()].flatMap((record) => record.files).map((file) => file.name).sort();
    assert.deepEqual(names, [
      `postgres_${stamp}.sql.custom.age`,
      `postgres_${stamp}.sql.gz.age`,
      `postgres_${stamp}_globals.sql.gz.age`,
      `qdrant_${stamp}/qdrant_snapshot.tar.gz.age`,
      `redis_${stamp}.rdb.gz.age`,
    ]);
    const checked = sha256sumCheck(setPath);
    for (const name of names) assert.match(checked, new RegExp(`${name.replace(/\./g, '\\.')}: OK`));
    assert.deepEqual((await readManifest(setPath)).encryption, { format: 'age', recipients: [recipient] });
  });

  test('`age -d -i <identity>` gives files the standard tools accept, holding the data', () => {
    const path = (name: string) => join(setPath, name);
    // pg_restore stops reading after the table of contents: it reads a decrypted file, not a pipe.
    const archive = join(stores.dir, 'decrypted.custom');
    decrypted(path(`postgres_${stamp}.sql.custom.age`), `cat > "${archive}"`);
    assert.match(execFileSync('pg_restore', ['-l', archive], { encoding: 'utf8' }), /TABLE DATA public encrypted_canary/);
    decrypted(path(`postgres_${stamp}.sql.gz.age`), 'gunzip -t');
    decrypted(path(`postgres_${stamp}_globals.sql.gz.age`), 'gunzip -t');
    assert.match(decrypted(path(`postgres_${stamp}.sql.gz.age`), 'gunzip'), new RegExp(canary.postgres));
    const rdb = join(stores.dir, 'decrypted.rdb');
    decrypted(path(`redis_${stamp}.rdb.gz.age`), `gunzip > "${rdb}"`);
    execFileSync('redis-check-rdb', [rdb], { stdio: 'ignore' });
    assert.ok(readFileSync(rdb).includes(canary.redis), 'the decrypted RDB holds the Redis value');
    const entries = decrypted(path(`qdrant_${stamp}/qdrant_snapshot.tar.gz.age`), 'gunzip | tar -t').trim().split('\n');
    assert.deepEqual(entries, ['collections.json', 'scholaria_chunks.snapshot', 'scholaria_documents.snapshot']);
    // So that the grep of BACKUP_DIR below can fail: the Qdrant payload is in the decrypted archive.
    assert.equal(decrypted(path(`qdrant_${stamp}/qdrant_snapshot.tar.gz.age`), `gunzip | grep -a -c -F "${canary.qdrant}"`).trim() !== '0', true);
  });

  test('no dumped row, Redis value or Qdrant payload appears anywhere under BACKUP_DIR', () => {
    for (const text of Object.values(canary)) assert.equal(grepUnder(config.backupDir, text), '', `${text} found in plaintext`);
  });

  test('with the identity, the deep checks of PostgreSQL and Qdrant decrypt and read every file', async () => {
    const setName = setPath.slice(setPath.lastIndexOf('/') + 1);
    const postgres = await activity((progress) => postgresVerify(config, { setName, location: 'sealed', files: files('postgres'), tier: 'daily' }, progress));
    assert.ok(postgres.checks.some((line) => /decrypted with BACKUP_ENCRYPTION_IDENTITY_FILE/.test(line)), postgres.checks.join('\n'));
    assert.equal(postgres.summary.counts['public.encrypted_canary'], 1);
    const qdrantResult = await activity((progress) => qdrantVerify(config, { setName, location: 'sealed', files: files('qdrant'), tier: 'daily' }, progress));
    assert.match(qdrantResult.checks[0]!, /decrypted with BACKUP_ENCRYPTION_IDENTITY_FILE/);
    assert.equal(qdrantResult.summary.counts.scholaria_chunks, atBackup.qdrant.collections.scholaria_chunks!.length);
  });

  test('without the identity: verify, preflight and restore of PostgreSQL and Qdrant refuse at once naming BACKUP_ENCRYPTION_IDENTITY_FILE, nothing touched', async () => {
    const bare = loadConfig(backupEnv());
    const setName = setPath.slice(setPath.lastIndexOf('/') + 1);
    const refused = (error: Error) => {
      assert.equal(error.name, 'ApplicationFailure');
      assert.equal((error as Error & { type?: string }).type, 'EncryptionIdentityMissing');
      assert.match(error.message, /is encrypted with age; set BACKUP_ENCRYPTION_IDENTITY_FILE on the worker/);
      return true;
    };
    await damage();
    const before = await fingerprint();
    await assert.rejects(activity((progress) => postgresVerify(bare, { setName, location: 'sealed', files: files('postgres'), tier: 'daily' }, progress)), refused);
    await assert.rejects(activity((progress) => qdrantVerify(bare, { setName, location: 'sealed', files: files('qdrant'), tier: 'daily' }, progress)), refused);
    await assert.rejects(activity((progress) => postgresPreflight(bare, sourceOf('postgres', 'nokey1'), progress)), refused);
    await assert.rejects(activity((progress) => qdrantPreflight(bare, sourceOf('qdrant', 'nokey2'), progress)), refused);
    await assert.rejects(activity((progress) => restoreInto(bare, sourceOf('postgres', 'nokey3'), 'scratch_nokey', progress)), refused);
    await assert.rejects(activity((progress) => qdrantRestore(bare, { ...sourceOf('qdrant', 'nokey4'), force: false, safety: { description: 'none taken', references: {} } }, progress)), refused);
    await assertState(before);

    const env = backupEnv();
    const worker = await startWorker(env);
    try {
      const result = await runCli(['restore', 'latest', '--yes', '--force'], env);
      assert.notEqual(result.code, 0, result.stdout);
      assert.match(result.stdout + result.stderr, /BACKUP_ENCRYPTION_IDENTITY_FILE/);
    } finally {
      await worker.stop();
    }
    await assertState(before);
  });

  test('a wrong identity: PostgreSQL and Qdrant files are refused naming the file and age\'s reason', async () => {
    const wrong = loadConfig(backupEnv({ BACKUP_ENCRYPTION_IDENTITY_FILE: otherIdentityFile }));
    const setName = setPath.slice(setPath.lastIndexOf('/') + 1);
    await assert.rejects(
      activity((progress) => postgresVerify(wrong, { setName, location: 'sealed', files: files('postgres'), tier: 'daily' }, progress)),
      new RegExp(`postgres_${stamp}\\.sql\\.custom\\.age: .*no identity matched any of the recipients`),
    );
    await assert.rejects(
      activity((progress) => qdrantVerify(wrong, { setName, location: 'sealed', files: files('qdrant'), tier: 'daily' }, progress)),
      new RegExp(`qdrant_${stamp}/qdrant_snapshot\\.tar\\.gz\\.age: .*no identity matched any of the recipients`),
    );
    await assert.rejects(activity((progress) => postgresPreflight(wrong, sourceOf('postgres', 'wrong1'), progress)), /no identity matched any of the recipients/);
    await assert.rejects(activity((progress) => qdrantPreflight(wrong, sourceOf('qdrant', 'wrong2'), progress)), /no identity matched any of the recipients/);
  });

  test('restore latest --yes --force with the identity on the worker: all three stores equal the backup', async () => {
    await damage();
    const env = backupEnv({ BACKUP_ENCRYPTION_IDENTITY_FILE: identityFile });
    const worker = await startWorker(env);
    try {
      const result = await runCli(['restore', 'latest', '--yes', '--force'], env);
      assert.equal(result.code, 0, result.stderr + result.stdout);
      assert.match(result.stdout, /PostgreSQL: restored/);
      assert.match(result.stdout, /Redis: restored/);
      assert.match(result.stdout, /Qdrant: restored/);
    } finally {
      await worker.stop();
    }
    await assertState(atBackup);
    for (const text of Object.values(canary)) assert.equal(grepUnder(config.backupDir, text), '', `${text} found in plaintext after the restore`);
  });

  test('a flipped byte inside the Qdrant and PostgreSQL ciphertexts, SHA256SUMS rewritten to match: refused naming the file', async () => {
    for (const name of [`postgres_${stamp}.sql.custom.age`, `qdrant_${stamp}/qdrant_snapshot.tar.gz.age`]) {
      const path = join(setPath, name);
      const original = readFileSync(path);
      const flipped = Buffer.from(original);
      flipped[Math.floor(flipped.length * 0.6)]! ^= 0x01;
      writeFileSync(path, flipped);
      try {
        const setName = setPath.slice(setPath.lastIndexOf('/') + 1);
        const store: StoreName = name.startsWith('postgres') ? 'postgres' : 'qdrant';
        const run = store === 'postgres' ? postgresVerify : qdrantVerify;
        await assert.rejects(
          activity((progress) => run(config, { setName, location: 'sealed', files: files(store), tier: 'daily', depth: 'restore' }, progress)),
          (error: Error) => {
            assert.equal(error.name, 'VerificationFailed');
            assert.ok(error.message.startsWith(name) || error.message.includes(name), error.message);
            assert.match(error.message, /age exited with code 1: .*failed to decrypt and authenticate payload chunk/);
            return true;
          },
        );
      } finally {
        writeFileSync(path, original);
      }
    }
  });
});

describe('a Qdrant safety snapshot with recipients configured', () => {
  test('is encrypted, holds no payload in plaintext, and the rollback decrypts it back into the target', async () => {
    const config = loadConfig(backupEnv({ BACKUP_DIR: join(stores.dir, 'backup-safety'), BACKUP_ENCRYPTION_IDENTITY_FILE: identityFile }));
    mkdirSync(config.backupDir, { recursive: true });
    const before = await qdrantFingerprint(standIn.url);
    const input = { restoreId: 'safety1', setName: 'none', files: [], summary: { unit: 'points' as const, counts: {} }, serverVersion: '0' };
    const safety = await activity((progress) => qdrantSafetySnapshot(config, input, progress));
    const dir = join(config.backupDir, '.safety', 'safety1', 'qdrant');
    const snapshots = readdirSync(dir).filter((name) => name !== 'collections.json').sort();
    assert.deepEqual(snapshots, ['collection-0.snapshot.age', 'collection-1.snapshot.age']);
    assert.equal(grepUnder(config.backupDir, canary.qdrant), '', 'no Qdrant payload in plaintext under BACKUP_DIR');
    await qdrant('DELETE', '/collections/scholaria_documents');
    await qdrant('POST', '/collections/scholaria_chunks/points/delete?wait=true', { points: [900001] });
    const bare = loadConfig(backupEnv({ BACKUP_DIR: config.backupDir }));
    await assert.rejects(activity((progress) => qdrantRollback(bare, { restoreId: 'safety1', safety }, progress)), /set BACKUP_ENCRYPTION_IDENTITY_FILE on the worker/);
    await activity((progress) => qdrantRollback(config, { restoreId: 'safety1', safety }, progress));
    assert.deepEqual(await qdrantFingerprint(standIn.url), before);
    assert.equal(grepUnder(config.backupDir, canary.qdrant), '', 'the decrypted scratch copies are gone');
    await qdrantRelease(config, { restoreId: 'safety1', safety, keep: false });
  });
});

describe('with zstd', () => {
  test('an encrypted backup writes .zst.age files that age and zstd open, and verify reads them with the identity', async () => {
    const env = backupEnv({ BACKUP_COMPRESSION: 'zstd', BACKUP_DIR: join(stores.dir, 'backup-zstd') });
    const setPath = await backUpEncrypted(env);
    const stamp = setPath.slice(-15);
    const names = [...readdirSync(setPath), ...readdirSync(join(setPath, `qdrant_${stamp}`)).map((name) => `qdrant_${stamp}/${name}`)].filter((name) => !name.endsWith('.json') && name !== 'SHA256SUMS' && name !== `qdrant_${stamp}`).sort();
    assert.deepEqual(names, [
      `postgres_${stamp}.sql.custom.zst.age`,
      `postgres_${stamp}.sql.zst.age`,
      `postgres_${stamp}_globals.sql.zst.age`,
      `qdrant_${stamp}/qdrant_snapshot.tar.zst.age`,
      `redis_${stamp}.rdb.zst.age`,
    ]);
    sha256sumCheck(setPath);
    const archive = join(stores.dir, 'decrypted-zstd.custom');
    decrypted(join(setPath, `postgres_${stamp}.sql.custom.zst.age`), `zstd -d -c > "${archive}"`);
    assert.match(execFileSync('pg_restore', ['-l', archive], { encoding: 'utf8' }), /TABLE DATA public encrypted_canary/);
    decrypted(join(setPath, `postgres_${stamp}.sql.zst.age`), 'zstd -t');
    assert.match(decrypted(join(setPath, `qdrant_${stamp}/qdrant_snapshot.tar.zst.age`), 'zstd -d -c | tar -t'), /^collections\.json$/m);
    for (const text of Object.values(canary)) assert.equal(grepUnder(join(stores.dir, 'backup-zstd'), text), '', `${text} found in plaintext`);

    const verifyEnv = { ...env, BACKUP_ENCRYPTION_IDENTITY_FILE: identityFile };
    const verifier = await startWorker(verifyEnv);
    try {
      const result = await runCli(['verify', 'latest'], verifyEnv);
      assert.equal(result.code, 0, result.stderr + result.stdout);
    } finally {
      await verifier.stop();
    }
  });
});
