/**
 * The worker's activity interceptor, on a mock activity environment: failures leave as one-line,
 * secret-free Temporal failures whose type says whether to retry (an authentication failure never is),
 * and an activity that reports no progress is kept alive by heartbeats without clobbering the details
 * of one that does.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { withProgress } from '../activities/heartbeat';
import { registerSecrets } from '../core/redaction';
import { activityInterceptors } from '../worker/activity-interceptor';

const logDir = mkdtempSync(join(tmpdir(), 'scholaria-interceptor-'));
after(() => rmSync(logDir, { recursive: true, force: true }));

/** Runs `work` as an activity behind the interceptor; returns what it gave or threw, and every heartbeat's details. */
async function intercepted(work: () => Promise<unknown>): Promise<{ outcome: unknown; heartbeats: unknown[] }> {
  const environment = new MockActivityEnvironment({ heartbeatTimeoutMs: 15_000 });
  const heartbeats: unknown[] = [];
  environment.on('heartbeat', (details: unknown) => heartbeats.push(details));
  const outcome = await environment
    .run(async () => {
      const inbound = activityInterceptors({ logDir, logLevel: 'fatal', backupDir: logDir })(Context.current()).inbound!;
      return inbound.execute!({ args: [], headers: {} }, () => work());
    })
    .catch((error: unknown) => error);
  return { outcome, heartbeats };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

test('a refused password, from any store, is AuthenticationFailed and not retried; the secret never shows', async () => {
  registerSecrets(['redis://:hunter2-secret@cache:6379'], []);
  const cases: Error[] = [
    Object.assign(new Error('Redis at cache:6379 is unreachable'), { cause: Object.assign(new Error('WRONGPASS invalid username-password pair'), { name: 'ReplyError' }) }),
    new Error('NOAUTH Authentication required. (redis://:hunter2-secret@cache:6379)'),
    Object.assign(new Error('password authentication failed for user "backup"'), { code: '28P01' }),
    Object.assign(new Error('role "backup" does not exist'), { code: '28000' }),
    Object.assign(new Error('Qdrant at q:6333: list collections: HTTP 403 Forbidden'), { status: 403 }),
  ];
  for (const error of cases) {
    const { outcome } = await intercepted(async () => {
      throw error;
    });
    assert.ok(outcome instanceof ApplicationFailure, String(outcome));
    assert.equal(outcome.type, 'AuthenticationFailed', error.message);
    assert.equal(outcome.nonRetryable, true);
    assert.match(outcome.message, /authentication failed/i);
    assert.doesNotMatch(outcome.message, /hunter2-secret/);
  }
});

test('an error that a retry may heal stays retryable, with its name as type and one line', async () => {
  const { outcome } = await intercepted(async () => {
    throw new Error('Redis at cache:6379 is unreachable:\n  Connection is closed.');
  });
  assert.ok(outcome instanceof ApplicationFailure);
  assert.equal(outcome.type, 'Error');
  assert.equal(outcome.nonRetryable, false);
  assert.equal(outcome.message, 'Redis at cache:6379 is unreachable:; Connection is closed.');
});

test('an activity that reports no progress is kept alive by heartbeats; one that does keeps its own details', async () => {
  const quiet = await intercepted(async () => {
    await sleep(7_000);
    return 'done';
  });
  assert.equal(quiet.outcome, 'done');
  assert.ok(quiet.heartbeats.length >= 2, `kept alive: ${quiet.heartbeats.length} heartbeats in 7 s`);

  const reporting = await intercepted(() =>
    withProgress(async (progress) => {
      progress.phase('copying');
      await sleep(4_000);
    }),
  );
  assert.ok(reporting.heartbeats.length >= 3);
  assert.ok(
    reporting.heartbeats.every((details) => details !== undefined),
    'no keep-alive heartbeat without details while the activity reports its progress',
  );
});
