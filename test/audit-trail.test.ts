/**
 * The audit trail and anomaly detection, end to end on a private Redis, a real worker and the CLI as
 * a user runs it: every operation leaves one line saying who, when, what and the outcome; a set edited
 * by hand after sealing and one deleted by hand are flagged by the next health-check, and notified by
 * the health workflow on the worker even when no CLI started it (as a schedule or cron would), as are
 * too many failed verifies and files other users may read; a restore from a set past its tier's
 * retention notifies at once and its audit line says so. The rules of core/anomalies.ts are checked
 * directly for the cases a test cannot wait for.
 */
import assert from 'node:assert/strict';
import { chmodSync, cpSync, openSync, readdirSync, readFileSync, rmSync, statSync, utimesSync, writeSync, closeSync } from 'node:fs';
import { hostname, userInfo } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { auditAnomalies, setsDeletedOutsideRetention } from '../core/anomalies';
import { parseAuditLines, type AuditEntry } from '../core/audit';
import type { Workflows } from '../core/workflow-types';
import { filesOf } from '../core/manifest';
import { startLocalRedis, type LocalRedis } from '../activities/redis/local-server';
import { readManifest } from '../activities/repository/sets';
import { freePort } from '../devstack/ports';
import { runCli, scratchDir, startWorker, temporalAddress, temporalClient, type RunningWorker } from './support/stack';
import { startWebhookReceiver, type WebhookReceiver } from './support/webhook-receiver';

let dir: string;
let redis: LocalRedis;
let worker: RunningWorker;
let webhook: WebhookReceiver;
let env: Record<string, string>;
const me = `${userInfo().username}@${hostname()}`;

function audit(): AuditEntry[] {
  return parseAuditLines(readFileSync(join(env.LOG_DIR!, 'audit.jsonl'), 'utf8'));
}

async function cli(args: string[]): Promise<{ code: number; output: string; stdout: string }> {
  const result = await runCli(args, env);
  return { code: result.code, output: result.stdout + result.stderr, stdout: result.stdout };
}

async function backUp(): Promise<string> {
  const before = new Set(readdirSync(env.BACKUP_DIR!, { withFileTypes: false }).map(String));
  const result = await cli(['backup', '--tier', 'daily']);
  assert.equal(result.code, 0, result.output);
  const created = readdirSync(env.BACKUP_DIR!).filter((name) => name.startsWith('scholaria_backup_') && !before.has(name));
  assert.equal(created.length, 1, result.output);
  // Set names have one-second stamps: the next backup must not share this one's.
  await new Promise((resolve) => setTimeout(resolve, 1100));
  return created[0]!;
}

interface Check {
  name: string;
  ok: boolean;
  detail: string;
}

async function healthChecks(): Promise<Record<string, Check>> {
  const result = await cli(['health-check', '--json']);
  const parsed = JSON.parse(result.stdout) as { checks: Check[] };
  return Object.fromEntries(parsed.checks.map((check) => [check.name, check]));
}

before(async () => {
  dir = scratchDir('audit-trail');
  redis = await startLocalRedis({ dir: join(dir, 'redis'), port: await freePort(), extraArgs: ['--repl-diskless-sync-delay', '0'] });
  const client = new Redis(redis.url);
  await client.mset({ 'session:1': 'a', 'session:2': 'b' });
  client.disconnect();
  webhook = await startWebhookReceiver();
  env = {
    PATH: process.env.PATH!,
    HOME: process.env.HOME!,
    BACKUP_DIR: join(dir, 'backup'),
    LOG_DIR: join(dir, 'logs'),
    LOG_LEVEL: 'warn',
    REDIS_URL: redis.url,
    BACKUP_COMPONENTS: 'redis',
    BACKUP_APPLY_SCHEDULES: 'false',
    TEMPORAL_ADDRESS: temporalAddress(),
    TEMPORAL_TASK_QUEUE: `audit-trail-${process.pid}`,
    BACKUP_NOTIFY_WEBHOOK: webhook.url,
    BACKUP_NOTIFY_WEBHOOK_FORMAT: 'json',
    // The worker judges the anomalies: its limit, not the CLI's, is the one that counts.
    BACKUP_AUDIT_MAX_FAILURES_PER_DAY: '1',
    ...(process.env.BACKUP_WORKFLOW_BUNDLE ? { BACKUP_WORKFLOW_BUNDLE: process.env.BACKUP_WORKFLOW_BUNDLE } : {}),
  };
  worker = await startWorker(env);
  await cli(['health-check']); // creates BACKUP_DIR if missing
});

after(async () => {
  await worker?.stop();
  await redis?.stop();
  await webhook?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('through the CLI', () => {
  const sets: string[] = [];

  test('backup, verify, dry run, restore and prune each leave one audit line with who, when, the workflow and the outcome', async () => {
    for (let i = 0; i < 3; i++) sets.push(await backUp());
    assert.equal((await cli(['verify', sets[0]!])).code, 0);
    assert.equal((await cli(['restore', sets[0]!, '--dry-run'])).code, 0);
    const restored = await cli(['restore', sets[0]!, '--yes']);
    assert.equal(restored.code, 0, restored.output);
    assert.equal((await cli(['prune', '--yes'])).code, 0);

    const entries = audit();
    const summary = entries.map((entry) => [entry.event, entry.set ?? null, entry.dryRun, entry.outcome]);
    assert.deepEqual(summary, [
      ['backup', sets[0], false, 'complete'],
      ['backup', sets[1], false, 'complete'],
      ['backup', sets[2], false, 'complete'],
      ['verify', sets[0], false, 'verified'],
      ['restore', sets[0], true, 'dry run'],
      ['restore', sets[0], false, 'restored'],
      ['prune', null, false, 'pruned'],
    ]);
    for (const entry of entries) {
      assert.equal(entry.by, me, JSON.stringify(entry));
      assert.ok(Date.now() - Date.parse(entry.at) < 10 * 60_000, JSON.stringify(entry));
      assert.match(entry.workflowId, new RegExp(`^${entry.event}-`), JSON.stringify(entry));
    }
    assert.equal(entries.find((entry) => entry.event === 'restore')?.tier, 'daily');
    assert.equal(statSync(join(env.LOG_DIR!, 'audit.jsonl')).mode & 0o777, 0o600);
  });

  test('health-check: nothing flagged while the sets are as sealed, and the worker notifies nothing about BACKUP_DIR', async () => {
    const before = webhook.received.length;
    const checks = await healthChecks();
    assert.equal(checks.anomalies?.ok, true, checks.anomalies?.detail);
    assert.equal(checks['backup dir']?.detail, `${env.BACKUP_DIR} is writable`);
    assert.deepEqual(webhook.received.slice(before).filter((note) => note.title.startsWith('health check:')), []);
    assert.equal(checks['file modes']?.ok, true, checks['file modes']?.detail);
  });

  const changedOnDisk = (set: string, file: string) => new RegExp(`set ${set} changed on disk after it was sealed: ${file.replace(/\./g, '\\.')} was modified at`);
  const deletedByHand = (set: string) => new RegExp(`set ${set} was deleted from BACKUP_DIR, but neither retention nor prune deleted it`);
  let editedFile = '';

  test('a set edited by hand after sealing and one deleted by hand are both flagged by the next health-check, which the worker notifies', async () => {
    const edited = sets[1]!;
    editedFile = filesOf(await readManifest(join(env.BACKUP_DIR!, edited)))[0]!.name;
    const path = join(env.BACKUP_DIR!, edited, editedFile);
    const fd = openSync(path, 'r+');
    writeSync(fd, Buffer.from('X'), 0, 1, 100); // same size: only the mtime gives it away
    closeSync(fd);
    const later = new Date(Date.now() + 5_000);
    utimesSync(path, later, later);
    rmSync(join(env.BACKUP_DIR!, sets[2]!), { recursive: true, force: true });

    const before = webhook.received.length;
    const checks = await healthChecks();
    assert.equal(checks.anomalies?.ok, false);
    assert.match(checks.anomalies!.detail, changedOnDisk(edited, editedFile));
    assert.match(checks.anomalies!.detail, deletedByHand(sets[2]!));
    const notes = webhook.received.slice(before).filter((note) => note.kind === 'health-check');
    const fromWorker = notes.find((note) => note.title === 'health check: 2 problems in BACKUP_DIR');
    assert.ok(fromWorker, JSON.stringify(notes));
    assert.match(fromWorker.details.join('\n'), changedOnDisk(edited, editedFile));
    assert.match(fromWorker.details.join('\n'), deletedByHand(sets[2]!));
    assert.ok(!notes.some((note) => note !== fromWorker && /anomalies|changed on disk/.test(JSON.stringify(note))), 'the CLI does not notify what the worker notified');
  });

  test('the health workflow started without the CLI, as a schedule would, notifies the edited and the deleted set', async () => {
    const workflowId = `health-unattended-${process.pid}`;
    const client = await temporalClient();
    try {
      const result = await client.workflow.execute<Workflows['healthWorkflow']>('healthWorkflow', {
        taskQueue: env.TEMPORAL_TASK_QUEUE!,
        workflowId,
        args: [{ components: ['redis'] }],
      });
      assert.equal(result.stores.redis?.reachable, true);
      assert.deepEqual(result.backupDir?.writable, { ok: true });
      assert.equal(result.backupDir?.anomalies.length, 2, JSON.stringify(result.backupDir));
    } finally {
      await client.connection.close();
    }
    // The previous health-check's own notification may still be arriving: only this run's count.
    const notes = webhook.received.filter((note) => note.workflowId === workflowId);
    assert.equal(notes.length, 1, JSON.stringify(webhook.received));
    assert.equal(notes[0]!.kind, 'health-check');
    assert.equal(notes[0]!.outcome, 'failed');
    assert.match(notes[0]!.details.join('\n'), changedOnDisk(sets[1]!, editedFile));
    assert.match(notes[0]!.details.join('\n'), deletedByHand(sets[2]!));
  });

  test('health-check without a worker writes nothing in BACKUP_DIR, and still reads the anomalies there', async () => {
    const staging = join(env.BACKUP_DIR!, '.partial');
    const before = { backupDir: statSync(env.BACKUP_DIR!).mtimeMs, staging: statSync(staging).mtimeMs };
    const result = await runCli(['health-check', '--json'], { ...env, TEMPORAL_TASK_QUEUE: `nobody-polls-${process.pid}` });
    const checks = Object.fromEntries((JSON.parse(result.stdout) as { checks: Check[] }).checks.map((check) => [check.name, check]));
    assert.equal(checks.worker?.ok, false);
    assert.equal(checks['backup dir']?.detail, `${env.BACKUP_DIR} is writable (checked from here: no worker answered)`);
    assert.match(checks.anomalies!.detail, deletedByHand(sets[2]!));
    assert.deepEqual({ backupDir: statSync(env.BACKUP_DIR!).mtimeMs, staging: statSync(staging).mtimeMs }, before, 'no probe file was written and removed');
  });

  test('verify of the edited set fails and is audited; more failures a day than BACKUP_AUDIT_MAX_FAILURES_PER_DAY are flagged', async () => {
    for (let i = 0; i < 2; i++) {
      const result = await cli(['verify', sets[1]!]);
      assert.notEqual(result.code, 0, result.output);
    }
    const failed = audit().filter((entry) => entry.event === 'verify' && entry.outcome.startsWith('failed'));
    assert.equal(failed.length, 2);
    assert.equal(failed[0]!.set, sets[1]);
    assert.equal(failed[0]!.by, me);
    const checks = await healthChecks();
    assert.match(checks.anomalies!.detail, /2 restores or verifies failed in the last 24 hours \(more than BACKUP_AUDIT_MAX_FAILURES_PER_DAY=1\)/);
  });

  test('a set readable by other users is flagged by health-check, naming it', async () => {
    const path = join(env.BACKUP_DIR!, sets[0]!);
    chmodSync(path, 0o755);
    try {
      const checks = await healthChecks();
      assert.equal(checks['file modes']?.ok, false);
      assert.match(checks['file modes']!.detail, new RegExp(`folder ${path} is readable by every user of this host \\(mode 0755\\)`));
    } finally {
      chmodSync(path, 0o700);
    }
  });

  test('a restore from a set older than its tier\'s retention notifies at once, and its audit line says why', async () => {
    // A copy of a sealed daily set under a name (its time) far past the 7-day daily retention.
    const old = 'scholaria_backup_20200101_020000';
    cpSync(join(env.BACKUP_DIR!, sets[0]!), join(env.BACKUP_DIR!, old), { recursive: true, preserveTimestamps: true });
    const before = webhook.received.length;
    const restored = await cli(['restore', old, '--yes']);
    assert.equal(restored.code, 0, restored.output);
    const expected = new RegExp(`^${me} restored from ${old}, older than the 7-day daily retention \\(restore-`);
    const entry = audit().findLast((line) => line.event === 'restore' && line.set === old);
    assert.equal(entry?.outcome, 'restored');
    assert.match(entry?.anomaly ?? '', expected);
    const notes = webhook.received.slice(before).filter((note) => note.outcome === 'anomaly');
    assert.equal(notes.length, 1, JSON.stringify(webhook.received.slice(before)));
    assert.equal(notes[0]!.kind, 'restore');
    assert.equal(notes[0]!.set, old);
    assert.match(notes[0]!.reason ?? '', expected);
    assert.equal(notes[0]!.workflowId, entry?.workflowId);
  });
});

describe('anomaly rules', () => {
  const rules = { retention: { days: { daily: 7, weekly: 30, monthly: 365 } }, maxFailuresPerDay: 3 };
  const now = new Date('2026-03-20T12:00:00Z');
  const entry = (fields: Partial<AuditEntry>): AuditEntry => ({ event: 'backup', at: '2026-03-20T10:00:00Z', by: 'ops@host', workflowId: 'w', stores: [], dryRun: false, outcome: 'complete', ...fields });

  test('a restore from a set older than its tier\'s retention is flagged; one within it is not', () => {
    const lines = auditAnomalies(
      [
        entry({ event: 'restore', set: 'scholaria_backup_20260301_020000', tier: 'daily', outcome: 'restored', workflowId: 'restore-old' }),
        entry({ event: 'restore', set: 'scholaria_backup_20260318_020000', tier: 'daily', outcome: 'restored', workflowId: 'restore-new' }),
      ],
      rules,
      now,
    );
    assert.deepEqual(lines, ['ops@host restored from scholaria_backup_20260301_020000, older than the 7-day daily retention (restore-old)']);
  });

  test('a set deleted by prune or retention, or past its retention, is not flagged; one that vanished is', () => {
    const entries = [
      entry({ set: 'scholaria_backup_20260319_020000', workflowId: 'backup-daily-a' }),
      entry({ set: 'scholaria_backup_20260318_020000', workflowId: 'backup-daily-b' }),
      entry({ set: 'scholaria_backup_20260317_020000', workflowId: 'backup-daily-c' }),
      entry({ set: 'scholaria_backup_20260301_020000', workflowId: 'backup-daily-d' }),
      entry({ event: 'retention', deleted: ['scholaria_backup_20260318_020000'], outcome: 'deleted' }),
      entry({ event: 'prune', deleted: ['scholaria_backup_20260317_020000'], outcome: 'pruned' }),
    ];
    assert.deepEqual(setsDeletedOutsideRetention(entries, new Set(), rules.retention, now), [
      'set scholaria_backup_20260319_020000 was deleted from BACKUP_DIR, but neither retention nor prune deleted it (audit.jsonl records its backup, no deletion)',
    ]);
  });

  test('failures are counted over the last 24 hours only, and only above the limit', () => {
    const failures = (count: number, at: string) => Array.from({ length: count }, () => entry({ event: 'verify', outcome: 'failed: checksum mismatch', at }));
    assert.deepEqual(auditAnomalies(failures(3, '2026-03-20T11:00:00Z'), rules, now), []);
    assert.deepEqual(auditAnomalies([...failures(3, '2026-03-18T11:00:00Z'), ...failures(1, '2026-03-20T11:00:00Z')], rules, now), []);
    assert.equal(auditAnomalies(failures(4, '2026-03-20T11:00:00Z'), rules, now).length, 1);
  });
});
