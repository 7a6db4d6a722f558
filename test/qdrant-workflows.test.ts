/**
 * Qdrant through the real backup and restore workflows, against the Qdrant STAND-IN of
 * test/support/qdrant-standin (no Qdrant server can run here). Set QDRANT_TEST_URL to run the Qdrant
 * part against a real, disposable Qdrant instead: its collections are deleted and recreated.
 */
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { Client } from 'pg';
import { seedQdrant } from '../devstack/seed';
import { qdrantFingerprint, redisDifferences, redisFingerprint, tableChecksums } from './support/fingerprints';
import { startQdrantStandIn, type QdrantStandIn } from './support/qdrant-standin';
import { seedStores, sha256sumCheck, TEST_SCALE } from './support/scholaria';
import { environmentFor, runCli, startStores, startWorker, type RunningWorker, type Stores } from './support/stack';

let stores: Stores;
let standIn: QdrantStandIn | undefined;
let qdrantUrl: string;
let worker: RunningWorker;
let env: Record<string, string>;
let atBackup: Awaited<ReturnType<typeof fingerprint>>;

async function fingerprint() {
  return {
    tables: await tableChecksums(stores.databaseUrl),
    keys: await redisFingerprint(stores.redis.url),
    qdrant: await qdrantFingerprint(qdrantUrl),
  };
}

async function assertState(expected: Awaited<ReturnType<typeof fingerprint>>): Promise<void> {
  const now = await fingerprint();
  assert.deepEqual(now.tables, expected.tables);
  assert.deepEqual(redisDifferences(expected.keys, now.keys, 60), []);
  assert.deepEqual(now.qdrant, expected.qdrant);
}

async function qdrant(method: string, path: string, body?: unknown): Promise<void> {
  const response = await fetch(`${qdrantUrl}${path}`, { method, headers: { 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
  assert.ok(response.ok, `${method} ${path}: ${response.status}`);
}

/** Damage in every store: a dropped Qdrant collection, changed points, a moved alias, plus PostgreSQL and Redis changes. */
async function damage(): Promise<void> {
  await qdrant('DELETE', '/collections/scholaria_documents');
  await qdrant('PUT', '/collections/scholaria_chunks/points?wait=true', { points: [{ id: 1, vector: Array(16).fill(0.5), payload: { hacked: true } }] });
  await qdrant('POST', '/collections/scholaria_chunks/points/delete?wait=true', { points: [2, 3, 4] });
  await qdrant('PUT', '/collections/intruder', { vectors: { size: 4, distance: 'Dot' } });
  await qdrant('POST', '/collections/aliases', { actions: [{ delete_alias: { alias_name: 'chunks_current' } }, { create_alias: { collection_name: 'intruder', alias_name: 'chunks_current' } }] });
  const client = new Client({ connectionString: stores.databaseUrl });
  await client.connect();
  await client.query("UPDATE users SET display_name = 'changed'; DELETE FROM admin_settings");
  await client.end();
}

before(async () => {
  stores = await startStores('qdrant-workflows');
  if (process.env.QDRANT_TEST_URL) {
    qdrantUrl = process.env.QDRANT_TEST_URL.replace(/\/+$/, '');
    for (const name of ['scholaria_chunks', 'scholaria_documents', 'intruder']) await fetch(`${qdrantUrl}/collections/${name}`, { method: 'DELETE' });
  } else {
    standIn = await startQdrantStandIn({ dataDir: join(stores.dir, 'qdrant-standin') });
    qdrantUrl = standIn.url;
  }
  await seedStores(stores);
  await seedQdrant(qdrantUrl, TEST_SCALE);
  env = environmentFor(stores, { QDRANT_URL: qdrantUrl, BACKUP_COMPONENTS: 'postgres,redis,qdrant' });
  worker = await startWorker(env);
});

after(async () => {
  await worker?.stop();
  await standIn?.stop();
  await stores?.stop();
});

test('Qdrant (stand-in): a backup holds every collection in qdrant_<stamp>/qdrant_snapshot.tar.gz beside PostgreSQL and Redis', async () => {
  const result = await runCli(['backup', '--tier', 'weekly'], env);
  assert.equal(result.code, 0, result.stderr + result.stdout);
  assert.match(result.stdout, /Qdrant .* verified/);
  const setPath = /Backup set: (\S+)/.exec(result.stdout)![1]!;
  const stamp = setPath.slice(-15);
  assert.deepEqual(readdirSync(join(setPath, `qdrant_${stamp}`)), ['qdrant_snapshot.tar.gz']);
  assert.match(sha256sumCheck(setPath), new RegExp(`qdrant_${stamp}/qdrant_snapshot.tar.gz: OK`));
  const shown = await runCli(['show', 'latest'], env);
  assert.match(shown.stdout, /scholaria_chunks=\d+, scholaria_documents=\d+ \(points\)/);
  atBackup = await fingerprint();
});

test('Qdrant (stand-in): restore latest brings back points (ids, vectors, payloads) and aliases of every collection, with PostgreSQL and Redis', async () => {
  await damage();
  const result = await runCli(['restore', 'latest', '--yes'], env);
  assert.equal(result.code, 0, result.stderr + result.stdout);
  assert.match(result.stdout, /Qdrant: restored/);
  await assertState(atBackup);
});

test('Qdrant (stand-in): PostgreSQL and Redis restored, then Qdrant fails: all three are rolled back', { skip: process.env.QDRANT_TEST_URL ? 'needs the stand-in to inject the failure' : false }, async () => {
  await damage();
  const before = await fingerprint();
  standIn!.failNextUploads(3);
  const result = await runCli(['restore', 'latest', '--yes'], env);
  assert.equal(result.code, 1);
  assert.match(result.stdout, /PostgreSQL: rolled back/);
  assert.match(result.stdout, /Redis: rolled back/);
  assert.match(result.stdout, /Qdrant: failed: .*upload refused by a test/);
  await assertState(before);
});
