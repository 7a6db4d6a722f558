/**
 * Running by itself: the three Schedules on the real dev server, backups queueing across tiers,
 * retention, health-check, status, and the notifications a human gets.
 */
import assert from 'node:assert/strict';
import { cpSync, existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { hostname, userInfo } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { ScheduleNotFoundError } from '@temporalio/client';
import { DRILL_SCHEDULE_ID } from '../core/drills';
import { HEALTH_SCHEDULE_ID } from '../client/workflow-schedules';
import { scheduleIdOf, SCHEDULED_TIERS } from '../core/schedules';
import { seedStores } from './support/scholaria';
import { pruneSets } from '../activities/repository/prune';
import { HOLD_LEASE_MS } from '../activities/repository/set-holds';
import { environmentFor, runCli, startStores, startWorker, temporalClient, type RunningWorker, type Stores } from './support/stack';

let stores: Stores;
let worker: RunningWorker;
let env: Record<string, string>;
let receiver: Server;
const received: Record<string, unknown>[] = [];

async function removeSchedules(): Promise<void> {
  const client = await temporalClient();
  for (const id of [...SCHEDULED_TIERS.map(scheduleIdOf), DRILL_SCHEDULE_ID, HEALTH_SCHEDULE_ID]) {
    await client.schedule.getHandle(id).delete().catch((error: unknown) => {
      if (!(error instanceof ScheduleNotFoundError)) throw error;
    });
  }
  await client.connection.close();
}

async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 90_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const value = await probe();
    if (value !== undefined) return value;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  throw new Error(`timed out waiting for ${what}`);
}

before(async () => {
  await removeSchedules();
  receiver = createServer((request, response) => {
    let body = '';
    request.on('data', (chunk: Buffer) => (body += chunk.toString()));
    request.on('end', () => {
      received.push(JSON.parse(body) as Record<string, unknown>);
      response.end('ok');
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  stores = await startStores('operations');
  await seedStores(stores);
  env = environmentFor(stores, {
    BACKUP_NOTIFY_WEBHOOK: `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hooks/secret-token`,
    BACKUP_NOTIFY_WEBHOOK_FORMAT: 'json',
    TEMPORAL_UI_URL: 'http://ui.example:8233',
  });
  worker = await startWorker(env);
});

after(async () => {
  await worker?.stop();
  await removeSchedules();
  await stores?.stop();
  receiver?.close();
});

test('schedules apply creates the three tiers with the specification defaults, and a second apply changes nothing', async () => {
  const first = await runCli(['schedules', 'apply', '--json'], env);
  assert.equal(first.code, 0, first.stderr);
  assert.deepEqual(JSON.parse(first.stdout), { daily: 'created', weekly: 'created', monthly: 'created', drill: 'created', health: 'created' });
  const second = await runCli(['schedules', 'apply', '--json'], env);
  assert.deepEqual(JSON.parse(second.stdout), { daily: 'unchanged', weekly: 'unchanged', monthly: 'unchanged', drill: 'unchanged', health: 'unchanged' });

  const client = await temporalClient();
  try {
    const describe = (tier: (typeof SCHEDULED_TIERS)[number]) => client.schedule.getHandle(scheduleIdOf(tier)).describe();
    const daily = await describe('daily');
    const weekly = await describe('weekly');
    const monthly = await describe('monthly');
    assert.equal(daily.spec.timezone, 'UTC');
    assert.equal(daily.policies.overlap, 'SKIP');
    assert.equal(daily.action.type === 'startWorkflow' && daily.action.workflowType, 'backupWorkflow');
    for (const time of daily.info.nextActionTimes) assert.deepEqual([time.getUTCHours(), time.getUTCMinutes()], [2, 0]);
    for (const time of weekly.info.nextActionTimes) assert.deepEqual([time.getUTCDay(), time.getUTCHours()], [0, 3]);
    for (const time of monthly.info.nextActionTimes) assert.deepEqual([time.getUTCDate(), time.getUTCHours()], [1, 4]);
    const drill = await client.schedule.getHandle(DRILL_SCHEDULE_ID).describe();
    assert.equal(drill.action.type === 'startWorkflow' && drill.action.workflowType, 'scheduledDrillsWorkflow');
    for (const time of drill.info.nextActionTimes) assert.deepEqual([time.getUTCDay(), time.getUTCHours()], [0, 5], 'two hours after the weekly backup');
    const health = await client.schedule.getHandle(HEALTH_SCHEDULE_ID).describe();
    assert.equal(health.action.type === 'startWorkflow' && health.action.workflowType, 'healthWorkflow');
    assert.deepEqual(health.action.type === 'startWorkflow' && health.action.args, [{ components: ['postgres', 'redis'] }]);
    for (const time of health.info.nextActionTimes) assert.equal(time.getUTCMinutes(), 23, 'every hour');
    assert.ok(daily.info.nextActionTimes.length >= 3);
    const gaps = daily.info.nextActionTimes.slice(1).map((time, index) => time.getTime() - daily.info.nextActionTimes[index]!.getTime());
    assert.ok(gaps.every((gap) => gap === 86_400_000), 'one daily run per day');
  } finally {
    await client.connection.close();
  }
});

test('a changed time zone and daily time update the schedules, and a paused schedule stays paused', async () => {
  const paused = await runCli(['schedules', 'pause', 'weekly', '--note', 'maintenance'], env);
  assert.equal(paused.code, 0, paused.stderr);
  const seoul = { ...env, BACKUP_TIMEZONE: 'Asia/Seoul', BACKUP_DAILY_TIME: '01:30' };
  const applied = await runCli(['schedules', 'apply', '--json'], seoul);
  assert.deepEqual(JSON.parse(applied.stdout), { daily: 'updated', weekly: 'updated', monthly: 'updated', drill: 'updated', health: 'updated' });
  const listed = JSON.parse((await runCli(['schedules', 'list', '--json'], seoul)).stdout) as { tier: string; paused: boolean; note?: string; nextRuns: string[] }[];
  const daily = listed.find((row) => row.tier === 'daily')!;
  // 01:30 in Seoul (UTC+9) is 16:30 UTC the day before.
  for (const time of daily.nextRuns) assert.deepEqual([new Date(time).getUTCHours(), new Date(time).getUTCMinutes()], [16, 30]);
  const weekly = listed.find((row) => row.tier === 'weekly')!;
  assert.equal(weekly.paused, true);
  assert.equal(weekly.note, 'maintenance');
  const table = await runCli(['schedules', 'list'], seoul);
  assert.match(table.stdout, /weekly +every sunday at 03:00 Asia\/Seoul +paused \(maintenance\)/);
  assert.equal((await runCli(['schedules', 'resume', 'weekly'], seoul)).code, 0);
  const back = await runCli(['schedules', 'apply', '--json'], env);
  assert.deepEqual(JSON.parse(back.stdout), { daily: 'updated', weekly: 'updated', monthly: 'updated', drill: 'updated', health: 'updated' });
});

test('schedules trigger starts a real daily backup through the schedule', async () => {
  const triggered = await runCli(['schedules', 'trigger', 'daily'], env);
  assert.equal(triggered.code, 0, triggered.stderr);
  const set = await waitFor('a complete daily set', async () => {
    const names = existsSync(env.BACKUP_DIR!) ? readdirSync(env.BACKUP_DIR!) : [];
    for (const name of names.filter((entry) => entry.startsWith('scholaria_backup_'))) {
      const manifest = JSON.parse(readFileSync(join(env.BACKUP_DIR!, name, 'backup_manifest.json'), 'utf8'));
      if (manifest.tier === 'daily' && manifest.status === 'complete') return manifest;
    }
    return undefined;
  });
  assert.match(set.workflow.id, /^backup-daily-/);
  const listed = await runCli(['schedules', 'list'], env);
  assert.match(listed.stdout, /daily .* completed .* ago \(backup-daily-/);
});

test('backups started together run one at a time, in the order they were started, through the backup lock', async () => {
  const started: string[] = [];
  for (const tier of ['weekly', 'monthly', 'manual']) {
    const run = await runCli(['backup', '--tier', tier, '--no-wait'], env);
    assert.equal(run.code, 0, run.stderr);
    started.push(run.stdout.trim());
  }
  const client = await temporalClient();
  try {
    const results = await Promise.all(started.map((workflowId) => client.workflow.getHandle(workflowId).result()));
    const manifests = results.map(
      (result) => JSON.parse(readFileSync(join((result as { set: { path: string } }).set.path, 'backup_manifest.json'), 'utf8')) as { startedAt: string; finishedAt: string },
    );
    for (let index = 1; index < manifests.length; index++) {
      const [before, next] = [manifests[index - 1]!, manifests[index]!];
      assert.ok(next.startedAt >= before.finishedAt, `${started[index]} started (${next.startedAt}) after ${started[index - 1]} finished (${before.finishedAt})`);
    }
    // Each run waited for the lock's grant, and the lock is one workflow of this task queue.
    const lock = await client.workflow.getHandle(`backup-lock-${env.TEMPORAL_TASK_QUEUE}`).describe();
    assert.equal(lock.type, 'backupLockWorkflow');
    for (const workflowId of started) {
      const history = await client.workflow.getHandle(workflowId).fetchHistory();
      assert.ok(history.events?.some((event) => event.workflowExecutionSignaledEventAttributes?.signalName === 'backupLockGranted'), `${workflowId} was granted the lock`);
    }
  } finally {
    await client.connection.close();
  }
});

test('prune prints what it would delete and why, deletes only with --yes, and never the newest set of a tier or anything else', async () => {
  const newest = readdirSync(env.BACKUP_DIR!).filter((name) => name.startsWith('scholaria_backup_')).sort().at(-1)!;
  const forge = (name: string, tier: string) => {
    cpSync(join(env.BACKUP_DIR!, newest), join(env.BACKUP_DIR!, name), { recursive: true });
    const path = join(env.BACKUP_DIR!, name, 'backup_manifest.json');
    writeFileSync(path, JSON.stringify({ ...JSON.parse(readFileSync(path, 'utf8')), name, tier }));
  };
  forge('scholaria_backup_20200101_020000', 'daily');
  forge('scholaria_backup_20200102_020000', 'daily');
  mkdirSync(join(env.BACKUP_DIR!, 'not_a_set'));
  const dry = await runCli(['prune'], env);
  assert.equal(dry.code, 0, dry.stderr);
  assert.match(dry.stdout, /scholaria_backup_20200101_020000 +would delete +older than the 7-day daily retention, and a newer complete, verified daily set within it exists/);
  assert.match(dry.stdout, /2 sets would be deleted; nothing was changed/);
  assert.ok(readdirSync(env.BACKUP_DIR!).includes('scholaria_backup_20200101_020000'));
  const applied = await runCli(['prune', '--yes'], env);
  assert.equal(applied.code, 0, applied.stderr);
  const left = readdirSync(env.BACKUP_DIR!);
  assert.ok(!left.includes('scholaria_backup_20200101_020000') && !left.includes('scholaria_backup_20200102_020000'));
  assert.ok(left.includes('not_a_set') && left.includes(newest));
});

test('a set a run reads is held: prune keeps it while the hold lasts, names the run, and deletes it once the hold lapsed', async () => {
  const newest = readdirSync(env.BACKUP_DIR!).filter((name) => name.startsWith('scholaria_backup_')).sort().at(-1)!;
  const old = 'scholaria_backup_20200101_020000';
  cpSync(join(env.BACKUP_DIR!, newest), join(env.BACKUP_DIR!, old), { recursive: true });
  const manifestPath = join(env.BACKUP_DIR!, old, 'backup_manifest.json');
  writeFileSync(manifestPath, JSON.stringify({ ...JSON.parse(readFileSync(manifestPath, 'utf8')), name: old, tier: 'daily' }));
  // A verify of the old set, as an operator checks a set before restoring from it.
  const verified = await runCli(['verify', old], env);
  const workflowId = /Verifying \S+ \((\S+)\)/.exec(verified.stdout)?.[1];
  assert.ok(workflowId, `the verify names its run: ${verified.stdout}${verified.stderr}`);
  const pruned = await runCli(['prune', '--yes'], env);
  assert.equal(pruned.code, 0, pruned.stderr);
  assert.match(pruned.stdout, new RegExp(`${old} +keep +older than the 7-day daily retention.*; kept while ${workflowId} \\(since .* UTC\\) reads it`));
  assert.ok(readdirSync(env.BACKUP_DIR!).includes(old), 'the held set is still there');
  // A day later the hold has lapsed: the next prune deletes the set and the hold with it.
  const dayLater = new Date(Date.now() + HOLD_LEASE_MS + 60_000);
  const report = await pruneSets(env.BACKUP_DIR!, { days: { daily: 7, weekly: 30, monthly: 365 } }, dayLater, { tiers: ['daily'], apply: true });
  assert.ok(report.deleted.includes(old), JSON.stringify(report.decisions.find((decision) => decision.name === old)));
  assert.ok(!readdirSync(env.BACKUP_DIR!).includes(old));
  assert.ok(!existsSync(join(env.BACKUP_DIR!, '.holds', old)), 'the lapsed hold is removed');
});

test('health-check is healthy with a worker, schedules and fresh sets; a paused schedule fails it with what to do, and notifies', async () => {
  const healthy = await runCli(['health-check'], env);
  assert.equal(healthy.code, 0, healthy.stdout + healthy.stderr);
  assert.match(healthy.stdout, /✓ worker: a worker polls task queue/);
  assert.match(healthy.stdout, /✓ recent daily set: scholaria_backup_\d+_\d+, /);
  assert.match(healthy.stdout, /✓ PostgreSQL: pg_dump .* for server/);
  assert.match(healthy.stdout, /✓ free disk: .* room for about \d+ more sets/);
  assert.match(healthy.stdout, /Healthy\./);

  await runCli(['schedules', 'pause', 'monthly'], env);
  const before = received.length;
  const unhealthy = await runCli(['health-check', '--json'], env);
  assert.equal(unhealthy.code, 1);
  const report = JSON.parse(unhealthy.stdout) as { healthy: boolean; checks: { name: string; ok: boolean; fix?: string }[] };
  assert.equal(report.healthy, false);
  assert.deepEqual(report.checks.filter((check) => !check.ok).map((check) => [check.name, check.fix]), [
    ['schedule monthly', 'scholaria-backup schedules resume monthly'],
  ]);
  // Sent by the worker, through a notify workflow the CLI does not wait for.
  const deadline = Date.now() + 20_000;
  const notified = () => received.slice(before).find((message) => message.kind === 'health-check');
  while (!notified() && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 200));
  const note = notified();
  assert.ok(note, 'the failed health-check notified');
  assert.match(String(note.title), /health-check failed: schedule monthly/);
  await runCli(['schedules', 'resume', 'monthly'], env);
});

test('status shows schedules, the last run of each tier, storage and the last restore', async () => {
  const status = await runCli(['status'], env);
  assert.equal(status.code, 0, status.stderr);
  assert.match(status.stdout, /Schedules\nTIER +WHEN/);
  assert.match(status.stdout, /daily +completed +.* ago +[\d.]+ s +backup-daily-/);
  assert.match(status.stdout, /weekly +completed/);
  assert.match(status.stdout, /Storage: \d+ sets in .* \(\d+ complete, 0 partial\), [\d.]+ [KMG]B/);
  assert.match(status.stdout, /Last restore: none recorded/);
});

test('notifications: a partial backup tells the tier, the set, the failing store, the reason and the run link; nothing leaks the webhook token', async () => {
  const before = received.length;
  const downEnv = { ...env, REDIS_URL: `redis://127.0.0.1:${stores.redis.port! + 1}`, TEMPORAL_TASK_QUEUE: `${env.TEMPORAL_TASK_QUEUE}-down` };
  const downWorker = await startWorker(downEnv);
  try {
    const result = await runCli(['backup', '--tier', 'daily'], downEnv);
    assert.equal(result.code, 1);
    const health = await runCli(['health-check'], downEnv);
    assert.equal(health.code, 1);
    assert.match(health.stdout, /✗ Redis: Redis at 127\.0\.0\.1:\d+ is unreachable.*\n +→ check REDIS_URL and that the server runs and accepts the backup user/);
  } finally {
    await downWorker.stop();
  }
  const note = received.slice(before).find((message) => message.kind === 'backup') as Record<string, string>;
  assert.ok(note, 'the partial backup notified');
  assert.equal(note.outcome, 'partial');
  assert.equal(note.tier, 'daily');
  assert.match(note.set!, /^scholaria_backup_\d{8}_\d{6}$/);
  assert.equal(note.store, 'Redis');
  assert.match(note.reason!, /Redis probe failed: Redis at 127\.0\.0\.1:\d+ is unreachable/);
  assert.match(note.url!, /^http:\/\/ui\.example:8233\/namespaces\/default\/workflows\/backup-daily-\d{8}T\d{6}Z\/[0-9a-f-]+\/history$/);
  const logs = readdirSync(env.LOG_DIR!).map((file) => readFileSync(join(env.LOG_DIR!, file), 'utf8')).join('\n');
  assert.ok(!logs.includes('secret-token'));
});

test('schedules apply, pause, resume and trigger each leave an audit line with who, when, what and the outcome', async () => {
  const schedules = await waitFor('the schedule audit lines', async () => {
    const lines = readFileSync(join(env.LOG_DIR!, 'audit.jsonl'), 'utf8').trim().split('\n').map((line) => JSON.parse(line) as Record<string, string>);
    const found = lines.filter((line) => line.event === 'schedule');
    return ['apply', 'pause', 'resume', 'trigger'].every((action) => found.some((line) => line.action === action)) ? found : undefined;
  });
  const by = `${userInfo().username}@${hostname()}`;
  for (const line of schedules) {
    assert.equal(line.by, by);
    assert.equal(line.outcome, 'done');
    assert.match(line.workflowId!, /^audit-schedule-(apply|pause|resume|trigger)-/);
    assert.ok(!Number.isNaN(Date.parse(line.at!)));
  }
  // The first pause is the weekly one of the time-zone test (the health-check test pauses another later).
  assert.equal(schedules.find((line) => line.action === 'pause')?.target, 'weekly');
});
