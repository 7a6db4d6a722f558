/**
 * A store that refuses the worker's credentials is an authentication failure: reported as such, at
 * once, after one attempt (retrying cannot make a wrong password right), and nothing is written.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { after, before, test } from 'node:test';
import { Redis } from 'ioredis';
import { addPasswordLogin } from './support/scholaria';
import { environmentFor, runCli, startStores, startWorker, temporalClient, type Stores } from './support/stack';

let stores: Stores;

before(async () => {
  stores = await startStores('authentication');
});

after(async () => {
  await stores?.stop();
});

/** Runs a backup that must fail on authentication; returns its one stderr line and how often the probe was attempted. */
async function failedBackup(env: Record<string, string>, component: string): Promise<{ line: string; attempts: number; ms: number }> {
  const worker = await startWorker(env);
  try {
    const started = Date.now();
    const result = await runCli(['backup', '--component', component], env);
    const ms = Date.now() - started;
    assert.equal(result.code, 1, result.stdout + result.stderr);
    const workflowId = /backup (backup-manual-\S+) failed/.exec(result.stderr)?.[1];
    assert.ok(workflowId, result.stderr);
    const client = await temporalClient();
    try {
      const history = await client.workflow.getHandle(workflowId).fetchHistory();
      const events = history.events ?? [];
      const probe = events.find((event) => event.activityTaskScheduledEventAttributes?.activityType?.name?.startsWith('probe'));
      assert.ok(probe, 'the probe ran');
      const started = events.find((event) => String(event.activityTaskStartedEventAttributes?.scheduledEventId) === String(probe.eventId));
      const attempts = started?.activityTaskStartedEventAttributes?.attempt ?? 0;
      return { line: result.stderr.trim(), attempts, ms };
    } finally {
      await client.connection.close();
    }
  } finally {
    await worker.stop();
  }
}

test('a wrong Redis password: the backup fails at once, after one attempt, saying authentication failed; no set is written', async () => {
  const admin = new Redis(stores.redis.url);
  await admin.config('SET', 'requirepass', 'right-password');
  admin.disconnect();
  const url = new URL(stores.redis.url);
  url.password = 'wrong-password';
  const env = environmentFor(stores, { REDIS_URL: url.toString() });
  const { line, attempts, ms } = await failedBackup(env, 'redis');
  assert.match(line, /authentication failed/i);
  assert.doesNotMatch(line, /wrong-password/);
  assert.equal(attempts, 1, 'the probe is not retried');
  assert.ok(ms < 15_000, `failed within seconds, took ${ms} ms`);
  assert.ok(!existsSync(env.BACKUP_DIR!) || readdirSync(env.BACKUP_DIR!).filter((name) => !name.startsWith('.')).length === 0, 'no set written');
});

test('a wrong PostgreSQL password: the backup fails at once, after one attempt, saying authentication failed', async () => {
  const good = new URL(await addPasswordLogin(stores));
  good.password = 'not-the-password';
  const env = environmentFor(stores, { POSTGRES_URL: good.toString() });
  const { line, attempts, ms } = await failedBackup(env, 'postgres');
  assert.match(line, /password authentication failed/);
  assert.doesNotMatch(line, /not-the-password/);
  assert.equal(attempts, 1, 'the probe is not retried');
  assert.ok(ms < 15_000, `failed within seconds, took ${ms} ms`);
});
