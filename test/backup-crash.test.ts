import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { defaultPayloadConverter } from '@temporalio/common';
import type { StoreProgress } from '../src/core/contract';
import type { BackupWorkflowResult } from '../src/workflows/backup';
import { tableChecksums } from './support/fingerprints';
import { addBulkTable, createDatabase, seedStores, sha256sumCheck } from './support/scholaria';
import { CLI, environmentFor, run, runCli, startStores, temporalClient, type Stores } from './support/stack';

let stores: Stores;
let env: Record<string, string>;
const workers: ChildProcess[] = [];

function startWorkerProcess(): ChildProcess {
  const child = spawn(process.execPath, [CLI, 'worker'], { env, stdio: ['ignore', 'ignore', 'inherit'] });
  workers.push(child);
  return child;
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
    // Wait until the dump has visibly written data, then kill the worker without warning.
    const deadline = Date.now() + 120_000;
    let dumped = 0;
    while (Date.now() < deadline && dumped === 0) {
      const pending = (await handle.describe()).raw.pendingActivities ?? [];
      for (const activity of pending) {
        const payload = activity.heartbeatDetails?.payloads?.[0];
        const progress = payload ? (defaultPayloadConverter.fromPayload(payload) as StoreProgress) : undefined;
        if (activity.activityType?.name === 'backupPostgres' && progress?.phase === 'dumping') dumped = progress.bytes;
      }
      if (dumped === 0) await new Promise((resolve) => setTimeout(resolve, 100));
    }
    assert.ok(dumped > 0, 'the PostgreSQL dump was seen running');
    first.kill('SIGKILL');
    await new Promise((resolve) => first.once('exit', resolve));

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
