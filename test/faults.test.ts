/**
 * The fault cases that run in `npm test` (the full matrix is `npm run faults`): Temporal killed and
 * restarted while the CLI waits on a backup, the CLI giving up on a long outage with its own exit code,
 * a restore cancelled from Temporal, three matrix cases of the restore, the progress line of a resumed
 * attempt and a Redis target left replicating. On the fault bench (test/faults/bench.ts): a Temporal
 * dev server of this file's own, with a database file, so it can be killed and started again on the same port.
 */
import assert from 'node:assert/strict';
import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { Client } from '@temporalio/client';
import { Redis } from 'ioredis';
import { REPLICATION_MARKER } from '../activities/redis/replication-marker';
import { defaultPayloadConverter } from '@temporalio/common';
import { msNumberToTs } from '@temporalio/common/lib/time';
import { isAlive } from '../devstack/local-stack';
import { freePort } from '../devstack/ports';
import { progressOf } from '../client/watch';
import { FAULT_KINDS, FaultBench, type Kind, type Point } from './faults/bench';
import { runCli } from './support/stack';

const bench = new FaultBench();
let env: Record<string, string>;

/** Kills the server the hard way, as a crash would. */
async function killServer(): Promise<void> {
  process.kill(bench.server.pid, 'SIGKILL');
  while (isAlive(bench.server.pid)) await new Promise((resolve) => setTimeout(resolve, 50));
}

const withClient = <T>(use: (client: Client) => Promise<T>) => bench.withClient(use);

/** Waits until a running workflow of `type` has `activity` pending; its handle. */
async function runningActivity(type: string, activity: string): Promise<string> {
  const deadline = Date.now() + 120_000;
  while (Date.now() < deadline) {
    const found = await withClient(async (client) => {
      for await (const run of client.workflow.list({ query: `WorkflowType = '${type}' AND ExecutionStatus = 'Running'` })) {
        const pending = (await client.workflow.getHandle(run.workflowId).describe()).raw.pendingActivities ?? [];
        if (pending.some((item) => item.activityType?.name === activity)) return run.workflowId;
      }
      return undefined;
    });
    if (found) return found;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  assert.fail(`no ${type} ever ran ${activity}`);
}

before(async () => {
  await bench.start();
  env = bench.env;
});

after(() => bench.stop());

test('Temporal killed and restarted 25 s into a backup: the waiting CLI reports the true outcome, one complete set', async () => {
  const cli = runCli(['backup', '--tier', 'daily'], env, 600_000);
  await runningActivity('backupWorkflow', 'backupPostgres');
  await killServer();
  await new Promise((resolve) => setTimeout(resolve, 25_000));
  bench.server = await bench.startServer();
  const result = await cli;
  assert.equal(result.code, 0, `${result.stdout}\n${result.stderr}`);
  assert.match(result.stdout, /lost contact with Temporal/);
  assert.match(result.stdout, /complete/);
  const sets = readdirSync(env.BACKUP_DIR!).filter((name) => name.startsWith('scholaria_backup_'));
  assert.equal(sets.length, 1, 'exactly one set');
  assert.deepEqual(readdirSync(join(env.BACKUP_DIR!, '.partial')), [], 'nothing left in .partial/');
});

test('an outage longer than the CLI waits: exit 3, the run goes on and the message says how to follow it', async () => {
  const cli = runCli(['restore', 'latest', '--yes'], { ...env, BACKUP_WAIT_RECONNECT_SECONDS: '3' }, 600_000);
  const workflowId = await runningActivity('restoreWorkflow', 'stagePostgres');
  await killServer();
  const result = await cli;
  bench.server = await bench.startServer();
  assert.equal(result.code, 3, `${result.stdout}\n${result.stderr}`);
  assert.match(result.stderr, new RegExp(`${workflowId} goes on without this terminal: follow it with \`scholaria-backup status\``));
  const outcome = await withClient((client) => client.workflow.getHandle(workflowId).result());
  assert.ok(outcome, 'the restore completed after the CLI stopped waiting');
});

test('a restore cancelled from Temporal prints what was rolled back, store by store', async () => {
  const cli = runCli(['restore', 'latest', '--yes'], env, 600_000);
  // PostgreSQL's long step, the restore into the fresh database beside the target, which touches nothing live.
  const workflowId = await runningActivity('restoreWorkflow', 'stagePostgres');
  await withClient((client) => client.workflow.getHandle(workflowId).cancel());
  const result = await cli;
  assert.equal(result.code, 1, result.stderr);
  assert.match(result.stderr, /Workflow canceled/);
  // Where the cancellation lands depends on how soon the small stage ends: before the swap, or after it (then rolled back).
  assert.match(result.stdout, /PostgreSQL: (untouched|rolled back)/);
  assert.match(result.stdout, /Redis: (rolled back|untouched)/);
});

/** Matrix cases (test/faults/bench.ts) quick enough for every run of the suite, against the set the first test made. */
const MATRIX_CASES: [Kind, string, Point, string][] = [
  ['restore', 'restorePostgres', 'during', 'PostgreSQL connection cut'],
  ['restore', 'restoreRedis', 'during', 'Redis restarted'],
  ['restore', 'safetySnapshotRedis', 'just after', 'worker SIGKILL'],
  // The full matrix found this one ending the worker: redis-check-rdb's exit after the cut went unheard.
  ['backup', 'backupRedis', 'during', 'Redis connection cut'],
];
for (const [kind, activity, point, faultName] of MATRIX_CASES) {
  test(`matrix: ${faultName} ${point} ${activity} of a ${kind}: every invariant holds`, async () => {
    const fault = FAULT_KINDS.find((candidate) => candidate.name === faultName)!;
    const row = await bench.runCase(kind, activity, point, fault);
    assert.notEqual(row.invariants, '-', `the fault never struck: ${row.run}`);
    assert.ok(row.ok, `${row.run}: ${row.invariants}`);
  });
}

test('a resumed attempt shows only what that attempt reported, not the previous attempt`s phase', () => {
  const details = defaultPayloadConverter.toPayload({ phase: 'pg_restore', bytes: 1234 });
  const pending = (attempt: number, startedMs: number | undefined, heartbeatMs: number) =>
    progressOf({
      activityType: { name: 'restorePostgres' },
      attempt,
      lastStartedTime: startedMs === undefined ? undefined : msNumberToTs(startedMs),
      lastHeartbeatTime: msNumberToTs(heartbeatMs),
      heartbeatDetails: { payloads: [details] },
    } as Parameters<typeof progressOf>[0]);
  assert.equal(pending(1, 1000, 2000).phase, 'pg_restore');
  assert.deepEqual([pending(2, 5000, 2000).phase, pending(2, 5000, 2000).bytes], ['resuming', 0]);
  assert.equal(pending(2, undefined, 2000).phase, 'waiting to retry');
  assert.equal(pending(2, 5000, 6000).phase, 'pg_restore');
});

test('a Redis target left replicating from a dead worker: health-check and status say so and how to release it', async () => {
  const restoreId = '20260101_000000';
  const deadPort = await freePort();
  const dir = join(env.BACKUP_DIR!, '.safety', restoreId, 'redis');
  mkdirSync(dir, { recursive: true });
  const marker = join(dir, REPLICATION_MARKER);
  writeFileSync(marker, JSON.stringify({ host: '127.0.0.1', port: deadPort }));
  const redis = new Redis(bench.redisUrl);
  try {
    // The state a worker SIGKILLed mid-replication leaves: a replica of an address nobody serves.
    await redis.call('REPLICAOF', '127.0.0.1', String(deadPort));
    const health = await runCli(['health-check'], env);
    assert.notEqual(health.code, 0);
    assert.match(health.stdout + health.stderr, new RegExp(`restore ${restoreId} left the Redis target replicating from 127.0.0.1:${deadPort}, where nothing listens`));
    assert.match(health.stdout + health.stderr, /REPLICAOF NO ONE/);
    const status = await runCli(['status'], env);
    assert.equal(status.code, 0, status.stderr);
    assert.match(status.stdout, /Warning: restore 20260101_000000 left the Redis target replicating/);
    assert.match(status.stdout, /Safety snapshots kept .*20260101_000000 \(redis\)/);
  } finally {
    await redis.call('REPLICAOF', 'NO', 'ONE');
    redis.disconnect();
    rmSync(join(env.BACKUP_DIR!, '.safety', restoreId), { recursive: true, force: true });
  }
});
