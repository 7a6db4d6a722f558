/** The zstd profile: `.zst` files the standard zstd tool reads, through backup, verify and restore (Qdrant: the stand-in). */
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { Client } from 'pg';
import { seedQdrant } from '../devstack/seed';
import { qdrantFingerprint, redisDifferences, redisFingerprint, tableChecksums } from './support/fingerprints';
import { startQdrantStandIn, type QdrantStandIn } from './support/qdrant-standin';
import { createDatabase, seedStores, sha256sumCheck, TEST_SCALE } from './support/scholaria';
import { environmentFor, run, runCli, startStores, startWorker, type RunningWorker, type Stores } from './support/stack';

let stores: Stores;
let standIn: QdrantStandIn;
let worker: RunningWorker;
let env: Record<string, string>;
let setPath: string;
let stamp: string;

before(async () => {
  stores = await startStores('zstd');
  standIn = await startQdrantStandIn({ dataDir: join(stores.dir, 'qdrant-standin') });
  await seedStores(stores);
  await seedQdrant(standIn.url, TEST_SCALE);
  env = environmentFor(stores, { QDRANT_URL: standIn.url, BACKUP_COMPONENTS: 'postgres,redis,qdrant', BACKUP_COMPRESSION: 'zstd' });
  worker = await startWorker(env);
});

after(async () => {
  await worker?.stop();
  await standIn?.stop();
  await stores?.stop();
});

test('zstd profile (Qdrant: stand-in): every file ends in .zst, zstd -t accepts it, and sha256sum -c passes', async () => {
  const result = await runCli(['backup'], env);
  assert.equal(result.code, 0, result.stderr + result.stdout);
  setPath = /Backup set: (\S+)/.exec(result.stdout)![1]!;
  stamp = setPath.slice(-15);
  const files = [
    `postgres_${stamp}.sql.custom.zst`,
    `postgres_${stamp}.sql.zst`,
    `postgres_${stamp}_globals.sql.zst`,
    `redis_${stamp}.rdb.zst`,
    `qdrant_${stamp}/qdrant_snapshot.tar.zst`,
  ];
  assert.deepEqual(readdirSync(setPath).sort(), ['SHA256SUMS', 'backup_manifest.json', ...files.filter((file) => !file.includes('/')), `qdrant_${stamp}`].sort());
  for (const file of files) run('zstd', ['-q', '-t', join(setPath, file)]);
  sha256sumCheck(setPath);
});

test('zstd profile: the decompressed custom dump restores with pg_restore to the same tables', async () => {
  const target = await createDatabase(stores, 'from_zstd');
  run('bash', ['-o', 'pipefail', '-c', `zstd -q -d -c "${join(setPath, `postgres_${stamp}.sql.custom.zst`)}" | pg_restore --exit-on-error --dbname="${target}"`]);
  assert.deepEqual(await tableChecksums(target), await tableChecksums(stores.databaseUrl));
});

test('zstd profile (Qdrant: stand-in): verify and restore latest read the .zst files back to the backed-up state', async () => {
  const before = { tables: await tableChecksums(stores.databaseUrl), keys: await redisFingerprint(stores.redis.url), qdrant: await qdrantFingerprint(standIn.url) };
  const verified = await runCli(['verify', 'latest'], env);
  assert.equal(verified.code, 0, verified.stderr + verified.stdout);
  const client = new Client({ connectionString: stores.databaseUrl });
  await client.connect();
  await client.query("DELETE FROM chunks WHERE id % 3 = 0; UPDATE users SET email = 'x' || id");
  await client.end();
  await fetch(`${standIn.url}/collections/scholaria_documents`, { method: 'DELETE' });
  const restored = await runCli(['restore', 'latest', '--yes'], env);
  assert.equal(restored.code, 0, restored.stderr + restored.stdout);
  assert.deepEqual(await tableChecksums(stores.databaseUrl), before.tables);
  assert.deepEqual(redisDifferences(before.keys, await redisFingerprint(stores.redis.url), 60), []);
  assert.deepEqual(await qdrantFingerprint(standIn.url), before.qdrant);
});
