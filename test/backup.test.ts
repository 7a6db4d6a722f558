import assert from 'node:assert/strict';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { startLocalRedis } from '../activities/redis/local-server';
import { redisDifferences, redisFingerprint, tableChecksums } from './support/fingerprints';
import { addPasswordLogin, BACKUP_PASSWORD, createDatabase, seedStores, sha256sumCheck } from './support/scholaria';
import { environmentFor, run, runCli, startStores, startWorker, temporalClient, type RunningWorker, type Stores } from './support/stack';

let stores: Stores;
let worker: RunningWorker;
let env: Record<string, string>;
let tablesBefore: Record<string, string>;
let keysBefore: Awaited<ReturnType<typeof redisFingerprint>>;
let setPath: string;
let stamp: string;

before(async () => {
  stores = await startStores('backup');
  await seedStores(stores);
  env = environmentFor(stores, { POSTGRES_URL: await addPasswordLogin(stores) });
  worker = await startWorker(env);
  tablesBefore = await tableChecksums(stores.databaseUrl);
  keysBefore = await redisFingerprint(stores.redis.url);
});

after(async () => {
  await worker?.stop();
  await stores?.stop();
});

test('backup --tier daily writes a complete, verified set with the specification file names', async () => {
  const result = await runCli(['backup', '--tier', 'daily'], env);
  assert.equal(result.code, 0, result.stderr + result.stdout);
  assert.match(result.stdout, /Status: +complete/);
  assert.match(result.stdout, /PostgreSQL .* verified/);
  assert.match(result.stdout, /Redis .* verified/);
  setPath = /Backup set: (\S+)/.exec(result.stdout)![1]!;
  stamp = /scholaria_backup_(\d{8}_\d{6})$/.exec(setPath)![1]!;
  assert.deepEqual(readdirSync(setPath).sort(), [
    'SHA256SUMS',
    'backup_manifest.json',
    `postgres_${stamp}.sql.custom`,
    `postgres_${stamp}.sql.gz`,
    `postgres_${stamp}_globals.sql.gz`,
    `redis_${stamp}.rdb.gz`,
  ]);
  assert.deepEqual(readdirSync(join(env.BACKUP_DIR!, '.partial')), [], 'nothing is left in .partial/');
  const checked = sha256sumCheck(setPath);
  assert.equal(checked.trim().split('\n').length, 4);
  assert.ok(checked.trim().split('\n').every((line) => line.endsWith(': OK')), checked);
});

test('the manifest records tier, status, versions and the content counted from the server', () => {
  const manifest = JSON.parse(readFileSync(join(setPath, 'backup_manifest.json'), 'utf8'));
  assert.equal(manifest.tier, 'daily');
  assert.equal(manifest.status, 'complete');
  assert.equal(manifest.version, 1);
  assert.match(manifest.stores.postgres.serverVersion, /^1\d\./);
  assert.match(manifest.stores.redis.serverVersion, /^\d+\.\d+\.\d+$/);
  const rows = Object.fromEntries(Object.entries(tablesBefore).filter(([name]) => !name.startsWith('sequence')).map(([name, fp]) => [name.replace(/"/g, ''), Number(fp.split(' ')[0])]));
  assert.deepEqual(manifest.stores.postgres.summary.counts, rows);
  assert.equal(manifest.stores.redis.summary.unit, 'keys');
  const keysPerDb: Record<string, number> = {};
  for (const key of Object.keys(keysBefore)) keysPerDb[key.split(':')[0]!] = (keysPerDb[key.split(':')[0]!] ?? 0) + 1;
  assert.deepEqual(manifest.stores.redis.summary.counts, keysPerDb);
});

test('the custom dump restored by pg_restore into a new database equals the original, table by table', async () => {
  const target = await createDatabase(stores, 'restored_custom');
  run('pg_restore', ['--exit-on-error', `--dbname=${target}`, join(setPath, `postgres_${stamp}.sql.custom`)]);
  assert.deepEqual(await tableChecksums(target), tablesBefore);
});

test('the .sql.gz replayed by psql gives the same database', async () => {
  const target = await createDatabase(stores, 'restored_plain');
  run('bash', ['-o', 'pipefail', '-c', `gunzip -c "${join(setPath, `postgres_${stamp}.sql.gz`)}" | psql -q -v ON_ERROR_STOP=1 "${target}" >/dev/null`]);
  assert.deepEqual(await tableChecksums(target), tablesBefore);
});

test('the RDB passes redis-check-rdb and a redis-server started on it holds the same keys, values, types and TTLs', async () => {
  const rdb = join(stores.dir, 'check.rdb');
  run('bash', ['-o', 'pipefail', '-c', `gunzip -c "${join(setPath, `redis_${stamp}.rdb.gz`)}" > "${rdb}"`]);
  run('redis-check-rdb', [rdb]);
  const server = await startLocalRedis({ dir: join(stores.dir, 'rdb-server'), rdbFile: rdb });
  try {
    const restored = await redisFingerprint(server.url);
    assert.ok(Object.keys(keysBefore).some((key) => key.startsWith('db1:')) && Object.keys(keysBefore).some((key) => key.startsWith('db2:')));
    assert.deepEqual(redisDifferences(keysBefore, restored, 120), []);
  } finally {
    await server.stop();
  }
});

test('list, show and verify describe the set', async () => {
  const listed = await runCli(['list', '--json'], env);
  assert.equal(listed.code, 0, listed.stderr);
  const sets = JSON.parse(listed.stdout);
  assert.equal(sets.length, 1);
  assert.equal(sets[0].tier, 'daily');
  assert.equal(sets[0].status, 'complete');
  const table = await runCli(['list'], env);
  assert.match(table.stdout, /scholaria_backup_\d{8}_\d{6} +daily +complete/);

  const shown = await runCli(['show', 'latest'], env);
  assert.equal(shown.code, 0, shown.stderr);
  assert.match(shown.stdout, /public\.chunks=\d+/);
  assert.match(shown.stdout, new RegExp(`redis_${stamp}\\.rdb\\.gz`));

  const verified = await runCli(['verify', setPath], env);
  assert.equal(verified.code, 0, verified.stderr + verified.stdout);
  assert.match(verified.stdout, /verified/);
  assert.match(verified.stdout, /4 files match SHA256SUMS/);
  assert.match(verified.stdout, /redis-check-rdb read every key/);
});

test('the password of POSTGRES_URL appears in no log and no workflow history', async () => {
  const logs = readdirSync(env.LOG_DIR!);
  const day = new Date().toISOString().slice(0, 10).replaceAll('-', '');
  assert.ok(logs.includes(`backup-daily-${day}.log`), `log files: ${logs.join(', ')}`);
  for (const log of logs) assert.ok(!readFileSync(join(env.LOG_DIR!, log), 'utf8').includes(BACKUP_PASSWORD), log);
  const client = await temporalClient();
  try {
    let runs = 0;
    for await (const execution of client.workflow.list({ query: `TaskQueue = '${env.TEMPORAL_TASK_QUEUE}'` })) {
      const history = await client.workflow.getHandle(execution.workflowId, execution.runId).fetchHistory();
      assert.ok(!JSON.stringify(history).includes(BACKUP_PASSWORD), execution.workflowId);
      runs += 1;
    }
    assert.ok(runs >= 2, `expected the backup and verify runs, found ${runs}`);
  } finally {
    await client.connection.close();
  }
});

test('verify names the first bad file when a byte of the set changes', async () => {
  const file = join(setPath, `redis_${stamp}.rdb.gz`);
  const bytes = readFileSync(file);
  const middle = Math.floor(bytes.length / 2);
  bytes.writeUInt8(bytes[middle]! ^ 0xff, middle);
  writeFileSync(file, bytes);
  const result = await runCli(['verify', 'latest'], env);
  assert.equal(result.code, 1);
  assert.match(result.stderr, new RegExp(`redis_${stamp}\\.rdb\\.gz: sha256 [0-9a-f]{64} on disk`));
  assert.equal(result.stderr.trim().split('\n').length, 1, result.stderr);
});
