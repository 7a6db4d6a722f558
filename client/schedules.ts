/**
 * The three tiers as Temporal Schedules: created or updated idempotently from the configuration,
 * listed with their next runs and last result, paused, resumed, triggered and backfilled.
 */
import { ScheduleNotFoundError, ScheduleOverlapPolicy, type Client, type ScheduleDescription, type ScheduleOptions } from '@temporalio/client';
import type { Config } from '../core/config';
import { desiredSchedules, type DesiredSchedule, type ScheduledTier } from '../core/schedules';
import { startAttributes } from '../core/search-attributes';
import { STORE_LABELS } from '../core/stores';
import { ensureSearchAttributes } from '../worker/register-search-attributes';
import { backupDetails } from './commands/backup';
import { scheduledBackup } from './runs';
import { applyWorkflowSchedule, drillSchedule, healthSchedule, type WorkflowScheduleOutcome } from './workflow-schedules';

export type ApplyOutcome = 'created' | 'updated' | 'unchanged';

/** What `apply` compares: the desired schedule, the task queue its runs go to, and whether they carry the search attributes. */
function fingerprintOf(desired: DesiredSchedule, config: Config, searchAttributes: boolean): string {
  return `${desired.fingerprint}|${config.temporal.taskQueue}|${searchAttributes ? 'search-attributes-1' : 'no-search-attributes'}`;
}

function optionsOf(desired: DesiredSchedule, config: Config, searchAttributes: boolean): ScheduleOptions {
  const { comment, ...calendar } = desired.calendar;
  return {
    scheduleId: desired.scheduleId,
    spec: {
      calendars: [{ ...calendar, comment } as NonNullable<ScheduleOptions['spec']['calendars']>[number]],
      timezone: desired.timezone,
    },
    action: {
      type: 'startWorkflow',
      ...scheduledBackup(config),
      workflowId: desired.workflowId,
      args: [desired.input],
      memo: { appliedSchedule: fingerprintOf(desired, config, searchAttributes), stores: desired.input.components },
      staticSummary: `${desired.tier} backup of ${desired.input.components.map((store) => STORE_LABELS[store]).join(', ')}, ${comment}`,
      staticDetails: backupDetails(desired.input),
      // Only when the namespace has them: a run started with an unknown attribute would not start at all.
      ...(searchAttributes ? { typedSearchAttributes: startAttributes('backup', desired.tier) } : {}),
    },
    policies: {
      // A run still going when the next one is due makes that one skip; the backups of different
      // tiers queue up through the backup lock (workflows/backup-lock.ts).
      overlap: ScheduleOverlapPolicy.SKIP,
      catchupWindow: desired.catchupWindowMs,
      pauseOnFailure: false,
    },
  };
}

/** Creates missing schedules and updates changed ones; an unchanged one is left alone, a paused one stays paused. */
export async function applySchedules(
  client: Client,
  config: Config,
): Promise<Record<ScheduledTier, ApplyOutcome> & { drill: WorkflowScheduleOutcome; health: WorkflowScheduleOutcome }> {
  const outcomes = {} as Record<ScheduledTier, ApplyOutcome> & { drill: WorkflowScheduleOutcome; health: WorkflowScheduleOutcome };
  const { ready: searchAttributes, warning } = await ensureSearchAttributes(client.connection, config.temporal.namespace);
  if (warning) process.stderr.write(`scholaria-backup: warning: ${warning}\n`);
  for (const desired of desiredSchedules(config)) {
    const options = optionsOf(desired, config, searchAttributes);
    const handle = client.schedule.getHandle(desired.scheduleId);
    let current: ScheduleDescription | undefined;
    try {
      current = await handle.describe();
    } catch (error) {
      if (!(error instanceof ScheduleNotFoundError)) throw error;
    }
    if (!current) {
      await client.schedule.create(options);
      outcomes[desired.tier] = 'created';
    } else if (current.action.type === 'startWorkflow' && current.action.memo?.appliedSchedule === fingerprintOf(desired, config, searchAttributes)) {
      outcomes[desired.tier] = 'unchanged';
    } else {
      await handle.update((previous) => ({ ...previous, spec: options.spec, action: options.action, policies: options.policies, state: previous.state }));
      outcomes[desired.tier] = 'updated';
    }
  }
  outcomes.drill = await applyWorkflowSchedule(client, config, drillSchedule(config), searchAttributes);
  outcomes.health = await applyWorkflowSchedule(client, config, healthSchedule(config), searchAttributes);
  return outcomes;
}

export interface ScheduleRow {
  tier: ScheduledTier;
  scheduleId: string;
  exists: boolean;
  paused: boolean;
  note?: string;
  when: string;
  createdAt?: Date;
  nextRuns: Date[];
  lastRun?: { workflowId: string; scheduledAt: Date; status: string };
}

export async function listSchedules(client: Client, config: Config): Promise<ScheduleRow[]> {
  const rows: ScheduleRow[] = [];
  for (const desired of desiredSchedules(config)) {
    const base = { tier: desired.tier, scheduleId: desired.scheduleId, when: desired.calendar.comment };
    let description: ScheduleDescription;
    try {
      description = await client.schedule.getHandle(desired.scheduleId).describe();
    } catch (error) {
      if (!(error instanceof ScheduleNotFoundError)) throw error;
      rows.push({ ...base, exists: false, paused: false, nextRuns: [] });
      continue;
    }
    const recent = description.info.recentActions.at(-1);
    let lastRun: ScheduleRow['lastRun'];
    if (recent) {
      const workflowId = recent.action.workflow.workflowId;
      const status = await client.workflow
        .getHandle(workflowId, recent.action.workflow.firstExecutionRunId)
        .describe()
        .then((run) => run.status.name)
        .catch(() => 'UNKNOWN');
      lastRun = { workflowId, scheduledAt: recent.scheduledAt, status };
    }
    rows.push({
      ...base,
      exists: true,
      paused: description.state.paused,
      note: description.state.note,
      createdAt: description.info.createdAt,
      nextRuns: description.info.nextActionTimes.slice(0, 3),
      lastRun,
    });
  }
  return rows;
}

export async function setPaused(client: Client, config: Config, tiers: readonly ScheduledTier[], paused: boolean, note: string): Promise<void> {
  for (const desired of desiredSchedules(config).filter((schedule) => tiers.includes(schedule.tier))) {
    const handle = client.schedule.getHandle(desired.scheduleId);
    if (paused) await handle.pause(note);
    else await handle.unpause(note);
  }
}

/** Starts the tier's backup now, unless one of that tier is still running. */
export async function triggerSchedule(client: Client, tier: ScheduledTier, config: Config): Promise<void> {
  const desired = desiredSchedules(config).find((schedule) => schedule.tier === tier)!;
  await client.schedule.getHandle(desired.scheduleId).trigger(ScheduleOverlapPolicy.SKIP);
}

/** Runs the backups the tier's calendar had between two moments (e.g. after an outage longer than the catch-up window). */
export async function backfillSchedule(client: Client, tier: ScheduledTier, config: Config, start: Date, end: Date): Promise<void> {
  const desired = desiredSchedules(config).find((schedule) => schedule.tier === tier)!;
  await client.schedule.getHandle(desired.scheduleId).backfill({ start, end, overlap: ScheduleOverlapPolicy.BUFFER_ALL });
}
