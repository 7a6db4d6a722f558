/**
 * The fault cases that run in `npm test` (the full matrix is `npm run faults`): Temporal killed and
 * restarted while the CLI waits on a backup, the CLI giving up on a long outage with its own exit code,
 * a restore cancelled from Temporal, and the progress line of a resumed attempt. A Temporal dev server
 * of this file's own, with a database file, so it can be killed and started again on the same port.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { Client, Connection } from '@temporalio/client';
import { Redis } from 'ioredis';
import { REPLICATION_MARKER } from '../activities/redis/replicate-into-target';
import { defaultPayloadConverter } from '@temporalio/common';
import { msNumberToTs } from '@temporalio/common/lib/time';
import { startTemporalDevServer, type DevServer } from '../devstack/temporal';
import { freePort } from '../devstack/ports';
import { progressOf } from '../client/watch';
import { addBulkTable, seedStores } from './support/scholaria';
import { CLI, environmentFor, runCli, scratchDir, startStores, type Stores } from './support/stack';

let stores: Stores;
let env: Record<string, string>;
let server: DevServer;
let port: number;
let dbDir: string;
const workers: ChildProcess[] = [];

async function startServer(): Promise<DevServer> {
  return startTemporalDevServer({ port, uiPort: false, dbFile: join(dbDir, 'temporal.db'), logFile: join(dbDir, 'temporal.log') });
}

/** Kills the server the hard way, as a crash would. */
async function killServer(): Promise<void> {
  process.kill(server.pid, 'SIGKILL');
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    try {
      process.kill(server.pid, 0);
    } catch {
      return;
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

async function withClient<T>(use: (client: Client) => Promise<T>): Promise<T> {
  const connection = await Connection.connect({ address: server.address });
  try {
    return await use(new Client({ connection }));
  } finally {
    await connection.close();
  }
}

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
  stores = await startStores('faults');
  await seedStores(stores);
  await addBulkTable(stores.databaseUrl, 40);
  dbDir = scratchDir('faults-temporal');
  port = await freePort();
  server = await startServer();
  env = environmentFor(stores, { TEMPORAL_ADDRESS: server.address });
  workers.push(spawn(process.execPath, [CLI, 'worker'], { env, stdio: ['ignore', 'ignore', 'inherit'] }));
});

after(async () => {
  for (const worker of workers) if (worker.exitCode === null) worker.kill('SIGKILL');
  await server?.stop();
  await stores?.stop();
});

test('Temporal killed and restarted 25 s into a backup: the waiting CLI reports the true outcome, one complete set', async () => {
  const cli = runCli(['backup', '--tier', 'daily'], env, 600_000);
  await runningActivity('backupWorkflow', 'backupPostgres');
  await killServer();
  await new Promise((resolve) => setTimeout(resolve, 25_000));
  server = await startServer();
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
  const workflowId = await runningActivity('restoreWorkflow', 'restorePostgres');
  await killServer();
  const result = await cli;
  server = await startServer();
  assert.equal(result.code, 3, `${result.stdout}\n${result.stderr}`);
  assert.match(result.stderr, new RegExp(`${workflowId} goes on without this terminal: follow it with \`scholaria-backup status\``));
  const outcome = await withClient((client) => client.workflow.getHandle(workflowId).result());
  assert.ok(outcome, 'the restore completed after the CLI stopped waiting');
});

test('a restore cancelled from Temporal prints what was rolled back, store by store', async () => {
  const cli = runCli(['restore', 'latest', '--yes'], env, 600_000);
  const workflowId = await runningActivity('restoreWorkflow', 'restorePostgres');
  await withClient((client) => client.workflow.getHandle(workflowId).cancel());
  const result = await cli;
  assert.equal(result.code, 1, result.stderr);
  assert.match(result.stderr, /Workflow canceled/);
  assert.match(result.stdout, /PostgreSQL: rolled back/);
  assert.match(result.stdout, /Redis: (rolled back|untouched)/);
});

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
  const redis = new Redis(stores.redis.url);
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
