/** `status`: schedules, the last run of each tier, running workflows with progress, storage, the last restore. */
import { join } from 'node:path';
import type { Client, WorkflowExecutionInfo } from '@temporalio/client';
import { defaultPayloadConverter } from '@temporalio/common';
import { readAudit } from '../../activities/audit';
import type { Config } from '../../core/config';
import type { AuditEntry, StoreProgress } from '../../core/contract';
import { BACKUP_OUTCOME, BACKUP_SET, BACKUP_TIER, isUnregisteredSearchAttributeError, RUN_KIND, RUN_KINDS, RUN_OUTCOMES, runsQuery } from '../../core/search-attributes';
import { runUrl } from '../../core/temporal-ui';
import { filesOf, totalBytes } from '../../core/manifest';
import { SCHEDULED_TIERS } from '../../core/schedules';
import { TIERS } from '../../core/tiers';
import { listSets } from '../../activities/repository/sets';
import { listSafetySnapshots } from '../../activities/repository/safety-snapshots';
import { describeLeftReplicating, howToRelease, leftReplicating } from '../left-behind';
import { lastDrillPerTier, readDrills } from '../../activities/drill/history';
import { connectTemporal, UserError } from '../connection';
import { offsiteHealth } from './offsite';
import { formatBytes, formatDuration, formatTable } from '../format';
import { listSchedules } from '../schedules';
import { scheduleTable } from './schedules';
import { scheduledBackup, USER_RUN_TYPES, workflowIds } from '../runs';

interface RunSummary {
  workflowId: string;
  status: string;
  startedAt: string;
  durationMs?: number;
}

export async function statusCommand(config: Config, options: { json?: boolean }): Promise<number> {
  const client = await connectTemporal(config);
  try {
    const schedules = await listSchedules(client, config);
    const lastRuns: Record<string, RunSummary | null> = {};
    for (const tier of TIERS) lastRuns[tier] = await lastRun(client, `WorkflowType = '${scheduledBackup(config).workflowType}' AND WorkflowId STARTS_WITH '${workflowIds.backupsOf(tier)}'`);
    const running = await runningWorkflows(client);
    const sets = await listSets(config.backupDir);
    const storage = {
      sets: sets.length,
      complete: sets.filter((set) => set.manifest?.status === 'complete').length,
      partial: sets.filter((set) => set.manifest?.status === 'partial').length,
      unreadable: sets.filter((set) => !set.manifest).length,
      bytes: sets.reduce((sum, set) => sum + (set.manifest ? totalBytes(filesOf(set.manifest)) : 0), 0),
      newest: sets[0]?.name ?? null,
    };
    const lastRestore = await lastAuditEntry(config);
    const safetySnapshots = (await listSafetySnapshots(config.backupDir)).filter((snapshot) => snapshot.stores.length > 0);
    const replicating = await leftReplicating(config.backupDir, safetySnapshots);
    const lastDrills = lastDrillPerTier(await readDrills(config.logDir));
    // The bucket unreachable, or lagging more than one set per tier, makes `status` fail as health-check does.
    const offsite = config.offsite ? await offsiteHealth(client, config) : null;
    const code = offsite && !offsite.ok ? 1 : 0;
    if (options.json) {
      process.stdout.write(`${JSON.stringify({ schedules, lastRuns, running, storage, lastRestore, lastDrills, safetySnapshots, replicating, offsite }, null, 2)}\n`);
      return code;
    }
    const now = Date.now();
    const lines = ['Schedules', scheduleTable(schedules), '', 'Last backup per tier'];
    lines.push(
      formatTable(
        ['TIER', 'OUTCOME', 'STARTED', 'TOOK', 'RUN'],
        TIERS.filter((tier) => SCHEDULED_TIERS.includes(tier as never) || lastRuns[tier]).map((tier) => {
          const run = lastRuns[tier];
          if (!run) return [tier, 'never', '-', '-', '-'];
          return [tier, run.status.toLowerCase(), `${formatDuration(now - Date.parse(run.startedAt))} ago`, run.durationMs === undefined ? '-' : formatDuration(run.durationMs), run.workflowId];
        }),
      ),
    );
    lines.push('', 'Last drill per tier');
    const drilled = TIERS.filter((tier) => lastDrills[tier]);
    lines.push(
      drilled.length === 0
        ? '  none recorded (`scholaria-backup drill latest`)'
        : formatTable(
            ['TIER', 'OUTCOME', 'STARTED', 'RTO', 'RPO', 'SET'],
            drilled.map((tier) => {
              const drill = lastDrills[tier]!;
              return [
                tier,
                drill.outcome,
                `${formatDuration(now - Date.parse(drill.startedAt))} ago`,
                drill.rtoSeconds === undefined ? '-' : formatDuration(drill.rtoSeconds * 1000),
                `${formatDuration(drill.rpoSeconds * 1000)}${drill.rpoTargetSeconds !== undefined && drill.rpoSeconds > drill.rpoTargetSeconds ? ' (over target)' : ''}`,
                drill.set,
              ];
            }),
          ),
    );
    lines.push('', 'Running');
    lines.push(
      running.length === 0
        ? '  nothing'
        : running.map((run) => `  ${run.workflowId} (${run.type}, ${formatDuration(now - Date.parse(run.startedAt))})${run.progress.map((item) => `\n    ${item}`).join('')}`).join('\n'),
    );
    lines.push(
      '',
      `Storage: ${storage.sets} sets in ${config.backupDir} (${storage.complete} complete, ${storage.partial} partial${storage.unreadable ? `, ${storage.unreadable} unreadable` : ''}), ${formatBytes(storage.bytes)}${storage.newest ? `; newest ${storage.newest}` : ''}`,
      `Last restore: ${lastRestore ? `${lastRestore.at} by ${lastRestore.by}: ${lastRestore.dryRun ? 'dry run of ' : ''}${lastRestore.set} (${lastRestore.stores.join(', ')}) → ${lastRestore.outcome}` : 'none recorded'}`,
    );
    if (safetySnapshots.length > 0) {
      lines.push(`Safety snapshots kept (pruned after BACKUP_DAILY_RETENTION=${config.retentionDays.daily} days): ${safetySnapshots.map((snapshot) => `${snapshot.restoreId} (${snapshot.stores.join(', ')})`).join(', ')} in ${join(config.backupDir, '.safety')}`);
    }
    for (const left of replicating) lines.push(`Warning: ${describeLeftReplicating(left)}; ${howToRelease(left)}`);
    if (offsite) lines.push(`Offsite: ${offsite.ok ? '' : 'PROBLEM: '}${offsite.detail}`);
    process.stdout.write(`${lines.join('\n')}\n`);
    return code;
  } finally {
    await client.connection.close();
  }
}

async function lastRun(client: Client, query: string): Promise<RunSummary | null> {
  let newest: WorkflowExecutionInfo | undefined;
  for await (const run of client.workflow.list({ query })) {
    if (!newest || run.startTime > newest.startTime) newest = run;
  }
  if (!newest) return null;
  return {
    workflowId: newest.workflowId,
    status: newest.status.name,
    startedAt: newest.startTime.toISOString(),
    durationMs: newest.closeTime ? newest.closeTime.getTime() - newest.startTime.getTime() : undefined,
  };
}

async function runningWorkflows(client: Client): Promise<{ workflowId: string; type: string; startedAt: string; progress: string[] }[]> {
  const running = [];
  for await (const run of client.workflow.list({ query: "ExecutionStatus = 'Running'" })) {
    if (!(USER_RUN_TYPES as readonly string[]).includes(run.type)) continue;
    const description = await client.workflow.getHandle(run.workflowId, run.runId).describe();
    const progress = (description.raw.pendingActivities ?? []).map((pending) => {
      const payload = pending.heartbeatDetails?.payloads?.[0];
      const details = payload ? (defaultPayloadConverter.fromPayload(payload) as StoreProgress) : undefined;
      return `${pending.activityType?.name ?? 'activity'}: ${details?.phase ?? 'scheduled'}${details?.bytes ? ` ${formatBytes(details.bytes)}` : ''}`;
    });
    running.push({ workflowId: run.workflowId, type: run.type, startedAt: run.startTime.toISOString(), progress });
  }
  return running;
}

async function lastAuditEntry(config: Config): Promise<AuditEntry | null> {
  return (await readAudit(config)).filter((entry) => entry.event === 'restore').at(-1) ?? null;
}

export interface RunsOptions {
  kind?: string;
  tier?: string;
  outcome?: string;
  set?: string;
  limit?: string;
  json?: boolean;
}

/**
 * `runs`: this tool's workflow runs, newest first, filtered by their search attributes. The query it
 * prints is the one to paste into the Web UI's search box for the same list.
 */
export async function runsCommand(config: Config, options: RunsOptions): Promise<number> {
  const oneOf = (name: string, value: string | undefined, allowed: readonly string[]) => {
    if (value !== undefined && !allowed.includes(value)) throw new UserError(`unknown ${name} "${value}"; choose from ${allowed.join(', ')}`);
  };
  oneOf('kind', options.kind, RUN_KINDS);
  oneOf('tier', options.tier, TIERS);
  oneOf('outcome', options.outcome, RUN_OUTCOMES);
  const limit = Number(options.limit ?? 20);
  if (!Number.isInteger(limit) || limit < 1 || limit > 1000) throw new UserError(`--limit must be a whole number from 1 to 1000, not "${options.limit}"`);
  const query = runsQuery(options);
  const client = await connectTemporal(config);
  try {
    const runs = [];
    try {
      for await (const run of client.workflow.list({ query, pageSize: Math.min(limit, 100) })) {
        runs.push({
          workflowId: run.workflowId,
          runId: run.runId,
          kind: run.typedSearchAttributes.get(RUN_KIND) ?? null,
          tier: run.typedSearchAttributes.get(BACKUP_TIER) ?? null,
          set: run.typedSearchAttributes.get(BACKUP_SET) ?? null,
          outcome: run.typedSearchAttributes.get(BACKUP_OUTCOME) ?? null,
          status: run.status.name,
          startedAt: run.startTime.toISOString(),
          durationMs: run.closeTime ? run.closeTime.getTime() - run.startTime.getTime() : null,
          url: runUrl(config.temporal, run.workflowId, run.runId) ?? null,
        });
        if (runs.length >= limit) break;
      }
    } catch (error) {
      if (!isUnregisteredSearchAttributeError(error) && !/not a valid search attribute|invalid search attribute/i.test(String((error as Error).message))) throw error;
      throw new UserError(`namespace ${config.temporal.namespace} lacks the search attributes of this tool; start the worker once (it registers them) and try again`);
    }
    if (options.json) {
      process.stdout.write(`${JSON.stringify({ query, runs }, null, 2)}\n`);
      return 0;
    }
    const now = Date.now();
    const table = formatTable(
      ['RUN', 'KIND', 'TIER', 'SET', 'OUTCOME', 'STARTED', 'TOOK'],
      runs.map((run) => [
        run.workflowId,
        run.kind ?? '-',
        run.tier ?? '-',
        run.set ?? '-',
        run.outcome ?? run.status.toLowerCase(),
        `${formatDuration(now - Date.parse(run.startedAt))} ago`,
        run.durationMs === null ? '-' : formatDuration(run.durationMs),
      ]),
    );
    process.stdout.write(`${runs.length === 0 ? 'No runs match.' : table}\nQuery (also for the Web UI's search box): ${query}\n`);
    return 0;
  } finally {
    await client.connection.close();
  }
}
