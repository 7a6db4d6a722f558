import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { WorkflowHandle } from '@temporalio/client';
import { CancelledFailure, defaultPayloadConverter } from '@temporalio/common';
import { WorkflowFailedError } from '@temporalio/client';
import type { StoreProgress } from '../core/contract';
import type { BackupWorkflowResult } from '../core/workflow-types';
import { tableChecksums } from './support/fingerprints';
import { addBulkTable, createDatabase, seedStores, sha256sumCheck } from './support/scholaria';
import { CLI, environmentFor, run, runCli, startStores, temporalClient, type Stores } from './support/stack';
import { descendantsOf } from './support/processes';
import { isAlive } from '../devstack/local-stack';

let stores: Stores;
let env: Record<string, string>;
const workers: ChildProcess[] = [];

function startWorkerProcess(): ChildProcess {
  const child = spawn(process.execPath, [CLI, 'worker'], { env, stdio: ['ignore', 'ignore', 'inherit'] });
  workers.push(child);
  return child;
}

/** Waits until the PostgreSQL dump's heartbeats show bytes written. */
async function dumpInProgress(handle: WorkflowHandle): Promise<void> {
  const deadline = Date.now() + 120_000;
  while (Date.now() < deadline) {
    const pending = (await handle.describe()).raw.pendingActivities ?? [];
    for (const activity of pending) {
      const payload = activity.heartbeatDetails?.payloads?.[0];
      const progress = payload ? (defaultPayloadConverter.fromPayload(payload) as StoreProgress) : undefined;
      if (activity.activityType?.name === 'backupPostgres' && progress?.phase === 'dumping' && progress.bytes > 0) return;
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  assert.fail('the PostgreSQL dump was never seen running');
}

function dumpProcesses(): string[] {
  const result = spawnSync('pgrep', ['-f', `pg_dump.*${stores.postgres.port}`], { encoding: 'utf8' });
  return result.stdout.trim().split('\n').filter(Boolean);
}

before(async () => {
  stores = await startStores('crash');
  await seedStores(stores);
  await addBulkTable(stores.databaseUrl, 60);
  env = environmentFor(stores);
});

after(async () => {
  for (const worker of workers) if (worker.exitCode === null) worker.kill('SIGKILL');
  await stores?.stop();
});

test('a worker killed with SIGKILL in the middle of the PostgreSQL dump: a new worker resumes the run to one complete, correct set', async () => {
  const tablesBefore = await tableChecksums(stores.databaseUrl);
  const first = startWorkerProcess();
  const started = await runCli(['backup', '--tier', 'weekly', '--no-wait'], env);
  assert.equal(started.code, 0, started.stderr);
  const workflowId = started.stdout.trim();

  const client = await temporalClient();
  try {
    const handle = client.workflow.getHandle(workflowId);
    await dumpInProgress(handle);
    const children = descendantsOf(first.pid!);
    assert.ok(dumpProcesses().length > 0 && children.length > 0, 'pg_dump runs as a child of the worker');
    first.kill('SIGKILL');
    await new Promise((resolve) => first.once('exit', resolve));
    // The worker's children die with it: nothing keeps reading the database or writing a dead pipe.
    const deadline = Date.now() + 5000;
    while (children.some(isAlive) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
    assert.deepEqual(children.filter(isAlive), [], 'no child of the killed worker is left running');
    assert.deepEqual(dumpProcesses(), [], 'no pg_dump is left running');

    startWorkerProcess();
    const result = (await handle.result()) as BackupWorkflowResult;
    assert.equal(result.set.status, 'complete');

    const history = await handle.fetchHistory();
    const attempts = (history.events ?? []).filter(
      (event) => event.activityTaskStartedEventAttributes && (event.activityTaskStartedEventAttributes.attempt ?? 1) > 1,
    );
    assert.ok(attempts.length >= 1, 'the dump was retried after the crash');

    const sets = readdirSync(env.BACKUP_DIR!).filter((name) => name.startsWith('scholaria_backup_'));
    assert.deepEqual(sets, [result.set.name], 'exactly one set');
    assert.deepEqual(readdirSync(join(env.BACKUP_DIR!, '.partial')), [], 'no leftovers in .partial/');
    sha256sumCheck(result.set.path);
    const stamp = result.set.name.replace('scholaria_backup_', '');
    const target = await createDatabase(stores, 'after_crash');
    run('pg_restore', ['--exit-on-error', `--dbname=${target}`, join(result.set.path, `postgres_${stamp}.sql.custom`)]);
    assert.deepEqual(await tableChecksums(target), tablesBefore);
  } finally {
    await client.connection.close();
  }
});

test('cancelling a backup from Temporal stops pg_dump and leaves nothing behind', async () => {
  startWorkerProcess();
  const started = await runCli(['backup', '--component', 'postgres', '--no-wait'], env);
  assert.equal(started.code, 0, started.stderr);
  const client = await temporalClient();
  try {
    const handle = client.workflow.getHandle(started.stdout.trim());
    await dumpInProgress(handle);
    assert.ok(dumpProcesses().length > 0, 'pg_dump runs before the cancellation');
    const setsBefore = readdirSync(env.BACKUP_DIR!).filter((name) => name.startsWith('scholaria_backup_'));
    await handle.cancel();
    await assert.rejects(handle.result(), (error: unknown) => error instanceof WorkflowFailedError && error.cause instanceof CancelledFailure);
    const deadline = Date.now() + 10_000;
    while (dumpProcesses().length > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100));
    assert.deepEqual(dumpProcesses(), [], 'pg_dump was killed');
    assert.deepEqual(readdirSync(join(env.BACKUP_DIR!, '.partial')), [], 'the staged set was removed');
    assert.deepEqual(readdirSync(env.BACKUP_DIR!).filter((name) => name.startsWith('scholaria_backup_')), setsBefore, 'no new set');
  } finally {
    await client.connection.close();
  }
});
