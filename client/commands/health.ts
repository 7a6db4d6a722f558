/**
 * `health-check`: everything that must hold for tonight's backup to work and for last night's to be
 * there, each check with what to do when it fails. Exit 0 when healthy, 1 otherwise.
 */
import { statfs } from 'node:fs/promises';
import { join } from 'node:path';
import type { Client } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import type { Config } from '../../core/config';
import { filesOf, totalBytes } from '../../core/manifest';
import { SCHEDULED_TIERS, type ScheduledTier } from '../../core/schedules';
import { timeOfSetName } from '../../core/set-names';
import { STORE_LABELS, STORE_URL_VARIABLES, type StoreName } from '../../core/stores';
import { listSets, type SetListing } from '../../activities/repository/sets';
import { inspectBackupDir } from '../../activities/anomalies';
import { exposureWarnings, modesUnderBackupDir } from '../../activities/file-modes';
import { readDrills } from '../../activities/drill/history';
import { DRILLS_FILE } from '../../core/drills';
import type { Notification } from '../../core/contract';
import type { HealthWorkflowResult, StoreHealth } from '../../core/workflow-types';
import { connectTemporal } from '../connection';
import { offsiteHealth } from './offsite';
import { formatBytes, formatDuration } from '../format';
import { listSchedules, type ScheduleRow } from '../schedules';
import { startRun, workflowIds } from '../runs';
import { describeLeftReplicating, howToRelease, leftReplicating } from '../left-behind';

export interface Check {
  name: string;
  ok: boolean;
  detail: string;
  /** What to do about it, for failed checks. */
  fix?: string;
}

const HOUR = 3_600_000;
/** How old the newest complete set of a tier may be before something is wrong. */
export const FRESHNESS: Record<ScheduledTier, number> = { daily: 26 * HOUR, weekly: 8 * 24 * HOUR, monthly: 32 * 24 * HOUR };

/**
 * A successful drill within BACKUP_DRILL_MAX_AGE_DAYS, once drills have had that long to run: from the
 * time the oldest complete set exists (no set, nothing to drill).
 */
async function drillFreshness(config: Config, complete: readonly SetListing[], now: number): Promise<Check> {
  const limit = config.drill.maxAgeDays * 24 * HOUR;
  const name = 'recent drill';
  const passed = (await readDrills(config.logDir).catch(() => [])).filter((drill) => drill.outcome === 'passed').at(-1);
  const age = passed ? now - Date.parse(passed.startedAt) : undefined;
  if (passed && age! <= limit) return { name, ok: true, detail: `${passed.set} drilled ${formatDuration(age!)} ago, RTO ${passed.rtoSeconds} s, RPO ${formatDuration(passed.rpoSeconds * 1000)}` };
  const oldest = complete.at(-1);
  const waiting = oldest ? now - (timeOfSetName(oldest.name)?.getTime() ?? now) : 0;
  if (!passed && waiting <= limit) return { name, ok: true, detail: `no drill yet; due within ${formatDuration(limit - waiting)} (BACKUP_DRILL_MAX_AGE_DAYS=${config.drill.maxAgeDays})` };
  return {
    name,
    ok: false,
    detail: passed
      ? `the last successful drill (${passed.set}) ran ${formatDuration(age!)} ago; the limit is BACKUP_DRILL_MAX_AGE_DAYS=${config.drill.maxAgeDays}`
      : `no successful drill in ${join(config.logDir, DRILLS_FILE)}; complete sets exist since ${formatDuration(waiting)}`,
    fix: 'run `scholaria-backup drill latest` now and read why the last drills failed (`scholaria-backup status`, LOG_DIR/drills.jsonl); check that the drill schedule is not paused (`scholaria-backup schedules list`)',
  };
}


export async function healthCheckCommand(config: Config, options: { json?: boolean }): Promise<number> {
  const checks: Check[] = [];
  const add = (check: Check) => checks.push(check);

  let client: Client | undefined;
  let temporalCheck: Check;
  try {
    client = await connectTemporal(config);
    temporalCheck = { name: 'temporal', ok: true, detail: `reachable at ${config.temporal.address}, namespace ${config.temporal.namespace}` };
  } catch (error) {
    temporalCheck = { name: 'temporal', ok: false, detail: (error as Error).message, fix: 'start the Temporal server or fix TEMPORAL_ADDRESS / TEMPORAL_NAMESPACE / TLS settings' };
  }
  const workerCheck = client ? await pollingWorkerCheck(client, config) : undefined;
  const workerPolling = workerCheck?.ok === true;
  // The worker looks at BACKUP_DIR (and notifies what is wrong there); without one the CLI only reads.
  const probed = client && workerPolling ? await probeOnWorker(client, config).catch((error: Error) => error) : undefined;
  const fromWorker = probed instanceof Error ? undefined : probed?.backupDir;
  const backupDir = fromWorker ?? (await inspectBackupDir(config, 'access'));
  const checkedWhere = fromWorker ? '' : ' (checked from here: no worker answered)';

  add(
    backupDir.writable.ok
      ? { name: 'backup dir', ok: true, detail: `${config.backupDir} is writable${checkedWhere}` }
      : { name: 'backup dir', ok: false, detail: backupDir.writable.reason, fix: `create ${config.backupDir} or mount the backup volume there, writable by the user the worker runs as` },
  );

  for (const left of await leftReplicating(config.backupDir).catch(() => [])) {
    add({ name: 'redis replication', ok: false, detail: describeLeftReplicating(left), fix: howToRelease(left) });
  }
  const exposed = exposureWarnings(await modesUnderBackupDir(config.backupDir).catch(() => []));
  add(
    exposed.length === 0
      ? { name: 'file modes', ok: true, detail: `${config.backupDir} and its sets are not readable by other users` }
      : { name: 'file modes', ok: false, detail: exposed.join('; '), fix: 'sets hold every user\'s data: keep them owner-only (or group-readable with BACKUP_FILE_GROUP_READ=true)' },
  );
  add(
    backupDir.anomalies.length === 0
      ? { name: 'anomalies', ok: true, detail: `no set changed or deleted outside retention, no unusual failures or restores${checkedWhere}` }
      : { name: 'anomalies', ok: false, detail: backupDir.anomalies.join('; '), fix: 'find out who did it (LOG_DIR/audit.jsonl, the Temporal UI); `scholaria-backup verify <set>` reads a set in full' },
  );

  const sets = await listSets(config.backupDir).catch(() => []);
  const complete = sets.filter((set) => set.manifest?.status === 'complete');
  try {
    const stats = await statfs(config.backupDir);
    const free = stats.bavail * stats.bsize;
    const newest = complete[0]?.manifest;
    const setSize = newest ? totalBytes(filesOf(newest)) : 0;
    const fits = setSize > 0 ? Math.floor(free / setSize) : undefined;
    const ok = free >= config.minFreeBytes && (fits === undefined || fits >= 1);
    add({
      name: 'free disk',
      ok,
      detail: `${formatBytes(free)} free in ${config.backupDir}${fits !== undefined ? `, room for about ${fits} more sets of ${formatBytes(setSize)}` : ''}`,
      ...(ok ? {} : { fix: `free space in ${config.backupDir} (prune old sets with \`scholaria-backup prune\`) or grow the volume; the minimum is BACKUP_MIN_FREE_GB=${config.minFreeBytes / 1e9}` }),
    });
  } catch {
    // reported by the backup dir check
  }

  add(temporalCheck);
  let schedules: ScheduleRow[] = [];
  if (client) {
    try {
      if (workerCheck) add(workerCheck);
      schedules = await listSchedules(client, config);
      for (const row of schedules) {
        const ok = row.exists && !row.paused;
        add({
          name: `schedule ${row.tier}`,
          ok,
          detail: !row.exists ? 'missing' : row.paused ? `paused${row.note ? `: ${row.note}` : ''}` : `${row.when}; next ${row.nextRuns[0]?.toISOString() ?? '-'}`,
          ...(ok ? {} : { fix: row.exists ? `scholaria-backup schedules resume ${row.tier}` : 'scholaria-backup schedules apply' }),
        });
      }
    } catch (error) {
      add({ name: 'schedules', ok: false, detail: (error as Error).message, fix: 'check the Temporal namespace and permissions' });
    }
  }

  if (client && workerPolling && config.offsite) {
    const offsite = await offsiteHealth(client, config);
    add({
      name: 'offsite',
      ok: offsite.ok,
      detail: offsite.detail,
      ...(offsite.ok ? {} : { fix: 'check the bucket and the credentials in the worker environment, then `scholaria-backup offsite sync`' }),
    });
  }

  const now = Date.now();
  for (const tier of SCHEDULED_TIERS) {
    const newest = complete.find((set) => set.manifest?.tier === tier);
    const age = newest ? now - (timeOfSetName(newest.name)?.getTime() ?? 0) : undefined;
    const since = schedules.find((row) => row.tier === tier)?.createdAt;
    const due = since ? now - since.getTime() > FRESHNESS[tier] : true;
    if (age !== undefined && age <= FRESHNESS[tier]) {
      add({ name: `recent ${tier} set`, ok: true, detail: `${newest!.name}, ${formatDuration(age)} old` });
    } else if (!due) {
      add({ name: `recent ${tier} set`, ok: true, detail: `not due yet: the schedule exists since ${formatDuration(now - since!.getTime())}` });
    } else {
      add({
        name: `recent ${tier} set`,
        ok: false,
        detail: newest ? `the newest complete ${tier} set is ${formatDuration(age!)} old (${newest.name}); the limit is ${formatDuration(FRESHNESS[tier])}` : `no complete ${tier} set`,
        fix: `look at the last ${tier} runs (\`scholaria-backup status\`, the Temporal UI), then \`scholaria-backup schedules trigger ${tier}\``,
      });
    }
  }

  add(await drillFreshness(config, complete, now));

  if (probed instanceof Error) {
    add({ name: 'stores', ok: false, detail: `the probe run failed: ${probed.message}`, fix: 'look at the worker log' });
  } else if (probed) {
    for (const [store, health] of Object.entries(probed.stores) as [StoreName, StoreHealth][]) {
      add(
        health.reachable
          ? { name: STORE_LABELS[store], ok: true, detail: health.details.join('; ') }
          : { name: STORE_LABELS[store], ok: false, detail: health.reason, fix: `check ${STORE_URL_VARIABLES[store]} and that the server runs and accepts the backup user` },
      );
    }
  }
  const healthy = checks.every((check) => check.ok);
  // What the worker found in BACKUP_DIR it has notified already.
  const notifiedByWorker = new Set(fromWorker ? ['backup dir', 'anomalies'] : []);
  const failed = checks.filter((check) => !check.ok && !notifiedByWorker.has(check.name));
  if (failed.length > 0) {
    await sendNotification(client, config, {
      kind: 'health-check',
      outcome: 'failed',
      title: `health-check failed: ${failed.map((check) => check.name).join(', ')}`,
      reason: failed[0]!.detail,
      details: failed.map((check) => `${check.name}: ${check.detail}${check.fix ? ` → ${check.fix}` : ''}`),
    });
  }
  await client?.connection.close();
  if (options.json) {
    process.stdout.write(`${JSON.stringify({ healthy, checks }, null, 2)}\n`);
  } else {
    for (const check of checks) {
      process.stdout.write(`${check.ok ? '✓' : '✗'} ${check.name}: ${check.detail}\n${check.ok || !check.fix ? '' : `    → ${check.fix}\n`}`);
    }
    process.stdout.write(healthy ? 'Healthy.\n' : `Unhealthy: ${checks.filter((check) => !check.ok).length} checks failed.\n`);
  }
  return healthy ? 0 : 1;
}

/** A worker counts when it polled the queue for both workflow and activity tasks within the last few minutes. */
async function pollingWorkerCheck(client: Client, config: Config): Promise<Check> {
  const name = 'worker';
  try {
    const recent = Date.now() - 5 * 60_000;
    for (const taskQueueType of [temporal.api.enums.v1.TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW, temporal.api.enums.v1.TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY]) {
      const response = await client.workflowService.describeTaskQueue({
        namespace: config.temporal.namespace,
        taskQueue: { name: config.temporal.taskQueue },
        taskQueueType,
      });
      const seen = (response.pollers ?? []).some((poller) => {
        const seconds = Number(poller.lastAccessTime?.seconds ?? 0);
        return seconds * 1000 >= recent;
      });
      if (!seen) return { name, ok: false, detail: `no worker polls task queue ${config.temporal.taskQueue}`, fix: 'start the worker: `scholaria-backup worker` (in Docker: the backup service)' };
    }
    return { name, ok: true, detail: `a worker polls task queue ${config.temporal.taskQueue}` };
  } catch (error) {
    return { name, ok: false, detail: (error as Error).message, fix: 'check the Temporal namespace and permissions' };
  }
}

/** The health workflow: every store probed from the worker, and the worker's look at BACKUP_DIR. */
async function probeOnWorker(client: Client, config: Config): Promise<HealthWorkflowResult> {
  const handle = await startRun(client, config, 'healthWorkflow', { kind: 'health' }, (base) => ({
    ...base,
    workflowId: workflowIds.health(),
    args: [{ components: config.components }],
    workflowExecutionTimeout: '2 minutes',
    staticSummary: 'health-check: probe every store and BACKUP_DIR from the worker',
  }));
  return handle.result();
}

/**
 * The notification goes out from the worker, through a workflow the CLI does not wait for: it is
 * delivered (and retried) there, and visible in the Web UI. Without Temporal, nothing can send it.
 */
async function sendNotification(client: Client | undefined, config: Config, notification: Notification): Promise<void> {
  if (!client) {
    process.stderr.write('scholaria-backup: warning: Temporal is unreachable, so no notification was sent\n');
    return;
  }
  await startRun(client, config, 'notifyWorkflow', { kind: 'notify' }, (base) => ({
    ...base,
    workflowId: workflowIds.notify(notification.kind),
    args: [notification],
    staticSummary: `notify: ${notification.title}`,
  })).catch((error: Error) => process.stderr.write(`scholaria-backup: warning: the notification could not be started: ${error.message.split('\n')[0]}\n`));
}
