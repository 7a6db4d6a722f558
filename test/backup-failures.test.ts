import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { freePort } from '../devstack/ports';
import { addBulkTable, keepCuttingDumps, seedStores } from './support/scholaria';
import { environmentFor, runCli, startStores, startWorker, type RunningWorker, type Stores } from './support/stack';

let stores: Stores;
let worker: RunningWorker;
let env: Record<string, string>;

before(async () => {
  stores = await startStores('failures');
  await seedStores(stores);
  env = environmentFor(stores);
  worker = await startWorker(env);
});

after(async () => {
  await worker?.stop();
  await stores?.stop();
});

function assertOneLineError(result: { code: number; stderr: string; stdout: string }, pattern: RegExp): void {
  assert.notEqual(result.code, 0, 'the command must fail');
  const lines = result.stderr.trim().split('\n');
  assert.equal(lines.length, 1, `one line expected, got:\n${result.stderr}`);
  assert.match(lines[0]!, pattern);
}

test('bad input: an unknown tier, an unknown component, a set name like ../x, a bad setting: one clear line each, nothing written', async () => {
  const isolated = { ...env, BACKUP_DIR: join(stores.dir, 'untouched-backups'), LOG_DIR: join(stores.dir, 'untouched-logs') };
  assertOneLineError(await runCli(['backup', '--tier', 'hourly'], isolated), /unknown tier "hourly"; choose from daily, weekly, monthly, manual/);
  assertOneLineError(await runCli(['backup', '--component', 'postgres,mongo'], isolated), /unknown component "mongo"/);
  assertOneLineError(await runCli(['show', '../x'], isolated), /"\.\.\/x" is not a backup set/);
  assertOneLineError(await runCli(['verify', '../../etc/passwd'], isolated), /is not a backup set/);
  assertOneLineError(await runCli(['verify', '/elsewhere/scholaria_backup_20240301_020000'], isolated), /not inside BACKUP_DIR/);
  assertOneLineError(await runCli(['list'], { ...isolated, BACKUP_DAILY_RETENTION: 'a week' }), /^scholaria-backup: BACKUP_DAILY_RETENTION must be a whole number of days$/);
  assertOneLineError(await runCli(['list'], { ...isolated, BACKUP_DIR: 'relative/path' }), /BACKUP_DIR must be an absolute path/);
  assertOneLineError(await runCli(['backup'], { ...isolated, REDIS_URL: 'http://example' }), /REDIS_URL must be a URL starting with redis:\/\/ or rediss:\/\//);
  assert.ok(!existsSync(isolated.BACKUP_DIR), 'BACKUP_DIR was not created');
  assert.ok(!existsSync(isolated.LOG_DIR), 'LOG_DIR was not created');
});

test('bad input: a missing POSTGRES_URL is one line naming it, and nothing is written', async () => {
  const isolated: Record<string, string> = { ...env, BACKUP_DIR: join(stores.dir, 'untouched-backups') };
  delete isolated.POSTGRES_URL;
  assertOneLineError(await runCli(['backup'], isolated), /^scholaria-backup: POSTGRES_URL is not set/);
  assert.ok(!existsSync(isolated.BACKUP_DIR!));
  const redisOnly = await runCli(['backup', '--component', 'redis', '--no-wait'], isolated);
  assert.equal(redisOnly.code, 0, 'a Redis-only backup does not need POSTGRES_URL');
});

test('bad input: an unwritable BACKUP_DIR fails the run with one line and writes nothing', async () => {
  const blocker = join(stores.dir, 'a-file');
  writeFileSync(blocker, 'not a folder');
  const badEnv = { ...env, BACKUP_DIR: join(blocker, 'backups'), TEMPORAL_TASK_QUEUE: `${env.TEMPORAL_TASK_QUEUE}-baddir` };
  const badWorker = await startWorker(badEnv);
  try {
    const result = await runCli(['backup'], badEnv);
    assertOneLineError(result, /BACKUP_DIR .*a-file\/backups is not writable \(ENOTDIR\)/);
  } finally {
    await badWorker.stop();
  }
});

test('Redis unreachable: a partial set that names Redis, a non-zero exit, never shown as latest', async () => {
  const downEnv = { ...env, REDIS_URL: `redis://127.0.0.1:${await freePort()}`, TEMPORAL_TASK_QUEUE: `${env.TEMPORAL_TASK_QUEUE}-down` };
  const downWorker = await startWorker(downEnv);
  try {
    const result = await runCli(['backup', '--tier', 'daily'], downEnv);
    assert.equal(result.code, 1);
    assert.match(result.stderr, /is partial: Redis probe failed: Redis at 127\.0\.0\.1:\d+ is unreachable/);
    assert.match(result.stdout, /Status: +partial/);
    const setPath = /Backup set: (\S+)/.exec(result.stdout)![1]!;
    const manifest = JSON.parse(readFileSync(join(setPath, 'backup_manifest.json'), 'utf8'));
    assert.equal(manifest.status, 'partial');
    assert.equal(manifest.stores.postgres.status, 'ok');
    assert.equal(manifest.stores.redis.status, 'failed');
    assert.match(manifest.stores.redis.error, /Redis/);
    const latest = await runCli(['show', 'latest', '--json'], downEnv);
    assert.notEqual(JSON.parse(latest.stdout).name, manifest.name, 'a partial set is never latest');
    const listed = await runCli(['list'], downEnv);
    assert.match(listed.stdout, /daily +partial .*redis\(failed\)/);
  } finally {
    await downWorker.stop();
  }
});

test('every store unreachable: the run fails with each reason, seals no set, and the failure is in the audit log and the log', async () => {
  const downEnv = {
    ...env,
    BACKUP_DIR: join(stores.dir, 'all-down-backups'),
    LOG_DIR: join(stores.dir, 'all-down-logs'),
    REDIS_URL: `redis://127.0.0.1:${await freePort()}`,
    POSTGRES_URL: `postgresql://postgres@127.0.0.1:${await freePort()}/scholaria`,
    TEMPORAL_TASK_QUEUE: `${env.TEMPORAL_TASK_QUEUE}-all-down`,
  };
  const downWorker = await startWorker(downEnv);
  try {
    const result = await runCli(['backup', '--tier', 'daily'], downEnv);
    assertOneLineError(result, /no store could be backed up, so no set was written: PostgreSQL probe failed: .*unreachable.*; Redis probe failed: .*unreachable/);
    const written = existsSync(downEnv.BACKUP_DIR) ? readdirSync(downEnv.BACKUP_DIR, { recursive: true }).map(String).filter((name) => name.includes('scholaria_backup_')) : [];
    assert.deepEqual(written, [], 'no set, partial or staged, was left in BACKUP_DIR');
    const audit = readFileSync(join(downEnv.LOG_DIR, 'audit.jsonl'), 'utf8').trim().split('\n').map((line) => JSON.parse(line));
    assert.equal(audit.length, 1);
    assert.equal(audit[0].event, 'backup');
    assert.equal(audit[0].outcome, 'failed');
    assert.equal(audit[0].set, undefined);
    assert.match(audit[0].reason, /no store could be backed up/);
    const logs = readdirSync(downEnv.LOG_DIR).filter((name) => name.startsWith('backup-daily-')).map((name) => readFileSync(join(downEnv.LOG_DIR, name), 'utf8')).join('');
    assert.match(logs, /"msg":"backup failed: no store could be backed up/);
  } finally {
    await downWorker.stop();
  }
});

test('a dump cut off midway, on every attempt, never becomes a complete set', async () => {
  await addBulkTable(stores.databaseUrl, 40);
  const before = readdirSync(env.BACKUP_DIR!).filter((name) => name.startsWith('scholaria_backup_'));
  const cutter = keepCuttingDumps(stores.postgres.url());
  let result;
  try {
    result = await runCli(['backup', '--component', 'postgres'], env);
  } finally {
    const cuts = await cutter.stop();
    assert.ok(cuts >= 1, 'the test must really have cut a dump');
  }
  assert.equal(result.code, 1, result.stdout);
  // The only store of the run failed: no set at all, not even an empty partial one, and no dump file kept.
  assert.match(result.stderr, /no store could be backed up, so no set was written: PostgreSQL: pg_dump exited with code 1/);
  const created = readdirSync(env.BACKUP_DIR!).filter((name) => name.startsWith('scholaria_backup_') && !before.includes(name));
  assert.deepEqual(created, []);
  assert.deepEqual(readdirSync(join(env.BACKUP_DIR!, '.partial')), []);
});
