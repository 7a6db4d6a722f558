import assert from 'node:assert/strict';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { WorkflowFailedError, type WorkflowHandle } from '@temporalio/client';
import { CancelledFailure, defaultPayloadConverter } from '@temporalio/common';
import { Redis } from 'ioredis';
import { Client } from 'pg';
import { redisDifferences, redisFingerprint, tableChecksums } from './support/fingerprints';
import { seedStores } from './support/scholaria';
import { environmentFor, runCli, startStores, startWorker, temporalClient, type RunningWorker, type Stores } from './support/stack';

let stores: Stores;
let worker: RunningWorker;
let env: Record<string, string>;
let tablesAtBackup: Record<string, string>;
let keysAtBackup: Awaited<ReturnType<typeof redisFingerprint>>;

async function sql<T extends Record<string, unknown>>(url: string, text: string): Promise<T[]> {
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<T>(text)).rows;
  } finally {
    await client.end();
  }
}

async function databases(): Promise<string[]> {
  return (await sql<{ datname: string }>(stores.postgres.url(), 'SELECT datname FROM pg_database ORDER BY 1')).map((row) => row.datname);
}

/** The disaster: a dropped table (and the view on it), changed and added rows, Redis keys deleted, added and re-timed. */
async function damage(): Promise<void> {
  await sql(stores.databaseUrl, `DROP TABLE IF EXISTS chunks CASCADE;
    UPDATE users SET display_name = 'hacked' WHERE id % 2 = 0;
    INSERT INTO topics (owner_id, title) VALUES (1, 'not in the backup');
    SELECT setval('users_id_seq', 5000);`);
  const redis = new Redis(stores.redis.url);
  try {
    await redis.del('session:000001', 'session:000002', 'cache:settings');
    await redis.set('intruder', 'x');
    await redis.persist('session:000010');
    await redis.expire('cache:api:topics:3', 99_999);
    await redis.select(1);
    await redis.del('celery');
    await redis.select(5);
    await redis.set('new-db-key', '1');
  } finally {
    redis.disconnect();
  }
}

async function snapshot() {
  return { tables: await tableChecksums(stores.databaseUrl), keys: await redisFingerprint(stores.redis.url) };
}

/** Every table row for row, every key with its value and type; TTLs may only have counted down meanwhile. */
async function assertUnchanged(before: Awaited<ReturnType<typeof snapshot>>): Promise<void> {
  assert.deepEqual(await tableChecksums(stores.databaseUrl), before.tables);
  assert.deepEqual(redisDifferences(before.keys, await redisFingerprint(stores.redis.url), 30), []);
}

async function waitForActivity(handle: WorkflowHandle, activity: string, phase: string): Promise<void> {
  const deadline = Date.now() + 60_000;
  const seen = new Set<string>();
  while (Date.now() < deadline) {
    const description = await handle.describe();
    for (const pending of description.raw.pendingActivities ?? []) {
      const payload = pending.heartbeatDetails?.payloads?.[0];
      const progress = payload ? (defaultPayloadConverter.fromPayload(payload) as { phase: string }) : undefined;
      seen.add(`${pending.activityType?.name}:${progress?.phase}`);
      if (pending.activityType?.name === activity && progress?.phase === phase) return;
    }
    if (description.status.name !== 'RUNNING') {
      const failure = await handle.result().then(() => 'completed', (error: Error) => `${error.message}: ${(error.cause as Error | undefined)?.message}`);
      assert.fail(`the run ended (${failure}) before ${activity} reached ${phase}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  assert.fail(`${activity} was never seen in phase ${phase}; seen: ${[...seen].join(', ')}`);
}

before(async () => {
  stores = await startStores('restore');
  await seedStores(stores);
  env = environmentFor(stores);
  worker = await startWorker(env);
  const backup = await runCli(['backup', '--tier', 'daily'], env);
  assert.equal(backup.code, 0, backup.stderr + backup.stdout);
  tablesAtBackup = await tableChecksums(stores.databaseUrl);
  keysAtBackup = await redisFingerprint(stores.redis.url);
});

after(async () => {
  await worker?.stop();
  await stores?.stop();
});

test('restore --dry-run prints the plan per store and leaves the targets byte-for-byte untouched', async () => {
  await damage();
  const before = await snapshot();
  const databasesBefore = await databases();
  const result = await runCli(['restore', 'latest', '--dry-run'], env);
  assert.equal(result.code, 0, result.stderr + result.stdout);
  assert.match(result.stdout, /PostgreSQL: planned/);
  assert.match(result.stdout, /database scholaria: 4 tables/);
  assert.match(result.stdout, /in one transaction rename scholaria to scholaria_pre_restore_/);
  assert.match(result.stdout, /Redis: planned/);
  assert.match(result.stdout, /make the target a replica of the worker \(REPLICAOF\)/);
  assert.match(result.stdout, /where the target refuses replication: .*FLUSHALL the target and copy every key/);
  assert.match(result.stdout, /Dry run: nothing was changed\./);
  await assertUnchanged(before);
  assert.deepEqual(await databases(), databasesBefore);
});

test('restore without --yes and without a terminal refuses, and changes nothing', async () => {
  const before = await snapshot();
  const result = await runCli(['restore', 'latest'], env);
  assert.equal(result.code, 1);
  assert.match(result.stderr, /^scholaria-backup: refusing to restore every store the set holds from latest without confirmation: no terminal to ask; pass --yes/);
  await assertUnchanged(before);
});

test('disaster and recovery: restore latest --yes brings back exactly the backed-up state, with working sequences, view, function and trigger', async () => {
  const result = await runCli(['restore', 'latest', '--yes'], env);
  assert.equal(result.code, 0, result.stderr + result.stdout);
  assert.match(result.stdout, /PostgreSQL: restored/);
  assert.match(result.stdout, /Redis: restored/);
  assert.match(result.stdout, /redis_\d+_\d+\.rdb\.gz loaded by the target through replication from the worker \(127\.0\.0\.1:\d+\)/);
  assert.deepEqual(await tableChecksums(stores.databaseUrl), tablesAtBackup);
  assert.deepEqual(redisDifferences(keysAtBackup, await redisFingerprint(stores.redis.url), 300), []);
  const target = new Redis(stores.redis.url);
  assert.match(await target.info('replication').finally(() => target.disconnect()), /^role:master\r?$/m, 'the target is a master again');

  const [stats] = await sql<{ chunks: string }>(stores.databaseUrl, 'SELECT sum(chunks)::text AS chunks FROM topic_stats');
  assert.equal(stats!.chunks, tablesAtBackup['public.chunks']!.split(' ')[0]);
  const [user] = await sql<{ id: string }>(stores.databaseUrl, "INSERT INTO users (email, display_name) VALUES ('new@x', 'New') RETURNING id::text");
  assert.equal(Number(user!.id), Number(tablesAtBackup['sequence public.users_id_seq']) + 1, 'the sequence continues where the backup left it');
  const [touched] = await sql<{ changed: boolean }>(stores.databaseUrl,
    `UPDATE contexts SET name = name || '!' WHERE id = 1 RETURNING updated_at > now() - interval '1 minute' AS changed`);
  assert.equal(touched!.changed, true, 'the trigger and its function run');

  assert.ok(!(await databases()).some((name) => name.includes('restore_')), 'the pre-restore database was dropped after success');
  assert.deepEqual(readdirSync(join(env.BACKUP_DIR!, '.safety')).flatMap((id) => readdirSync(join(env.BACKUP_DIR!, '.safety', id))), []);
  const audit = readFileSync(join(env.LOG_DIR!, 'audit.jsonl'), 'utf8').trim().split('\n').map((line) => JSON.parse(line)).filter((entry) => entry.event === 'restore');
  assert.deepEqual(audit.map((entry) => [entry.dryRun, entry.outcome]), [[true, 'dry run'], [false, 'restored']]);
  assert.match(audit[1].by, /@/);
  assert.deepEqual(audit[1].stores, ['postgres', 'redis']);
});

test('REDIS_RESTORE_METHOD=copy: Redis restored key by key with DUMP/RESTORE holds the same keys, values and TTLs', async () => {
  await damage();
  const copyEnv = { ...env, REDIS_RESTORE_METHOD: 'copy', TEMPORAL_TASK_QUEUE: `${env.TEMPORAL_TASK_QUEUE}-copy` };
  const copyWorker = await startWorker(copyEnv);
  try {
    const result = await runCli(['restore', 'latest', '--component', 'redis', '--yes'], copyEnv);
    assert.equal(result.code, 0, result.stderr + result.stdout);
    // The seed's 30 s lock key may have expired since the backup on a slow machine; the output then says so.
    assert.match(result.stdout, /rdb\.gz copied key by key with DUMP\/RESTORE(; \d+ keys? had expired since the backup)?$/m);
    assert.deepEqual(redisDifferences(keysAtBackup, await redisFingerprint(stores.redis.url), 300), []);
  } finally {
    await copyWorker.stop();
  }
});

test('selective: --component redis restores Redis and leaves PostgreSQL untouched', async () => {
  await damage();
  const tablesDamaged = await tableChecksums(stores.databaseUrl);
  const result = await runCli(['restore', 'latest', '--component', 'redis', '--yes'], env);
  assert.equal(result.code, 0, result.stderr + result.stdout);
  assert.deepEqual(redisDifferences(keysAtBackup, await redisFingerprint(stores.redis.url), 300), []);
  assert.deepEqual(await tableChecksums(stores.databaseUrl), tablesDamaged);
});

test('a session connected to the target makes the swap fail with its name and nothing changes; --force ends it', async () => {
  const before = await tableChecksums(stores.databaseUrl);
  const session = new Client({ connectionString: stores.databaseUrl, application_name: 'scholaria-web' });
  await session.connect();
  session.on('error', () => undefined);
  try {
    const refused = await runCli(['restore', 'latest', '--component', 'postgres', '--yes'], env);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /1 sessions are connected to scholaria \(postgres@127\.0\.0\.1 pid \d+ \(scholaria-web\)\); stop them or restore with --force/);
    assert.match(refused.stdout, /PostgreSQL: failed/);
    assert.deepEqual(await tableChecksums(stores.databaseUrl), before);
    assert.equal((await session.query('SELECT 1 AS one')).rows[0].one, 1, 'the session is still connected');
    assert.ok(!(await databases()).some((name) => name.includes('restore_')), 'the fresh database was dropped');

    const forced = await runCli(['restore', 'latest', '--component', 'postgres', '--yes', '--force'], env);
    assert.equal(forced.code, 0, forced.stderr + forced.stdout);
    assert.match(forced.stdout, /ended 1 sessions on scholaria \(--force\)/);
    assert.deepEqual(await tableChecksums(stores.databaseUrl), tablesAtBackup);
    await assert.rejects(session.query('SELECT 1'));
  } finally {
    await session.end().catch(() => undefined);
  }
});

test('compensation: PostgreSQL restored, then Redis fails halfway: both are rolled back to their state before the restore', async () => {
  await damage();
  const admin = new Redis(stores.redis.url);
  // A restore user that may not use REPLICAOF, so the restore falls back to the copy, and may not write keys
  // starting with "r": RESTORE of db2's ratelimit:uploads is refused halfway through, after FLUSHALL. The
  // state before the restore holds no such key, so the rollback can succeed.
  await admin.acl('SETUSER', 'restorer', 'on', '>restorer-pass', '~[^r]*', '+@all', '-replicaof');
  await admin.select(2);
  await admin.del('ratelimit:uploads');
  admin.disconnect();
  const limitedEnv = {
    ...env,
    REDIS_URL: `redis://restorer:restorer-pass@127.0.0.1:${stores.redis.port}`,
    TEMPORAL_TASK_QUEUE: `${env.TEMPORAL_TASK_QUEUE}-limited`,
  };
  const limitedWorker = await startWorker(limitedEnv);
  const before = await snapshot();
  try {
    const result = await runCli(['restore', 'latest', '--yes'], limitedEnv);
    assert.equal(result.code, 1);
    assert.match(result.stdout, /PostgreSQL: rolled back/);
    assert.match(result.stdout, /Redis: failed: RESTORE into the target failed in db2: NOPERM/);
    assert.match(result.stderr, /restore from scholaria_backup_\d+_\d+ failed: .*\(PostgreSQL rolled back, Redis failed\)/);
    await assertUnchanged(before);
    assert.ok(!(await databases()).some((name) => name.includes('restore_')), 'no restore database is left');
    const audit = readFileSync(join(env.LOG_DIR!, 'audit.jsonl'), 'utf8').trim().split('\n').map((line) => JSON.parse(line)).filter((entry) => entry.event === 'restore');
    assert.equal(audit.at(-1).outcome, 'failed, rolled back');
  } finally {
    await limitedWorker.stop();
  }
});

test('cancelling a restore from Temporal rolls back what it already changed', async () => {
  await damage();
  const before = await snapshot();
  const admin = new Redis(stores.redis.url);
  // Redis holds back every write for a while, so the run is surely inside restoreRedis, copying keys, when it is
  // cancelled. The copy is the method that writes key by key, so this worker is told to use it.
  const copyEnv = { ...env, REDIS_RESTORE_METHOD: 'copy', TEMPORAL_TASK_QUEUE: `${env.TEMPORAL_TASK_QUEUE}-cancel` };
  const copyWorker = await startWorker(copyEnv);
  await admin.client('PAUSE', 60_000, 'WRITE');
  const client = await temporalClient();
  try {
    const handle = await client.workflow.start('restoreWorkflow', {
      workflowId: `restore-cancel-${Date.now()}`,
      taskQueue: copyEnv.TEMPORAL_TASK_QUEUE,
      args: [{ reference: 'latest', dryRun: false, force: false, keepSafety: false, requestedBy: 'test@cancel' }],
    });
    await waitForActivity(handle, 'restoreRedis', 'copying keys');
    await handle.cancel();
    await admin.client('UNPAUSE');
    await assert.rejects(handle.result(), (error: unknown) => error instanceof WorkflowFailedError && error.cause instanceof CancelledFailure);
    await assertUnchanged(before);
    assert.ok(!(await databases()).some((name) => name.includes('restore_')), 'no restore database is left');
    const audit = readFileSync(join(env.LOG_DIR!, 'audit.jsonl'), 'utf8').trim().split('\n').map((line) => JSON.parse(line)).filter((entry) => entry.event === 'restore');
    assert.equal(audit.at(-1).outcome, 'cancelled, rolled back');
  } finally {
    await admin.client('UNPAUSE').catch(() => undefined);
    admin.disconnect();
    await client.connection.close();
    await copyWorker.stop();
  }
});

test('a set with a damaged file is refused before anything is touched, naming the file', async () => {
  const before = await snapshot();
  const set = readdirSync(env.BACKUP_DIR!).filter((name) => name.startsWith('scholaria_backup_')).sort().at(-1)!;
  const file = readdirSync(join(env.BACKUP_DIR!, set)).find((name) => name.endsWith('.sql.custom'))!;
  const path = join(env.BACKUP_DIR!, set, file);
  const bytes = readFileSync(path);
  writeFileSync(path, bytes.subarray(0, bytes.length - 100));
  const result = await runCli(['restore', 'latest', '--yes'], env);
  assert.equal(result.code, 1);
  assert.match(result.stderr, new RegExp(`${file}: \\d+ bytes on disk, \\d+ recorded`));
  await assertUnchanged(before);
});
