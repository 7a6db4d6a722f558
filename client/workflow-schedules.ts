/**
 * The Temporal Schedules beside the three tiers', each starting one workflow: restore drills of the
 * newest complete set of every tier (weekly, two hours after the weekly backup, or
 * BACKUP_DRILL_SCHEDULE), and the health check (hourly, or BACKUP_HEALTH_SCHEDULE), whose look at the
 * worker's BACKUP_DIR finds sets changed or deleted by hand and notifies, with nobody watching.
 */
import { ScheduleNotFoundError, ScheduleOverlapPolicy, type Client, type ScheduleOptions } from '@temporalio/client';
import type { Duration } from '@temporalio/common';
import type { Config } from '../core/config';
import { DRILL_SCHEDULE_ID } from '../core/drills';
import { SCHEDULED_TIERS } from '../core/schedules';
import { startAttributes, type RunKind } from '../core/search-attributes';
import type { ScheduledDrillsInput } from '../core/drills';
import type { HealthWorkflowInput } from '../core/workflow-types';
import type { ApplyOutcome } from './schedules';

export type WorkflowScheduleOutcome = ApplyOutcome | 'off' | 'deleted';

export const HEALTH_SCHEDULE_ID = 'scholaria-backup-health';

type Started =
  | { workflowType: 'scheduledDrillsWorkflow'; args: [ScheduledDrillsInput] }
  | { workflowType: 'healthWorkflow'; args: [HealthWorkflowInput] };

export type WorkflowSchedule = Started & {
  scheduleId: string;
  /** The operator's setting: a cron expression, `off`, or absent for the default `spec`. */
  setting: string | undefined;
  spec: ScheduleOptions['spec'];
  workflowId: string;
  kind: RunKind;
  summary: string;
  /** How long a run may take before Temporal ends it. */
  runTimeout?: Duration;
};

export function drillSchedule(config: Config): WorkflowSchedule {
  const { day, hour, minute } = config.schedule.weekly;
  // Two hours after the weekly backup (same day unless that crosses midnight; then at 23:59 of that day).
  const late = hour + 2 > 23;
  return {
    scheduleId: DRILL_SCHEDULE_ID,
    setting: config.drill.schedule,
    spec: {
      calendars: [{ dayOfWeek: day, hour: late ? 23 : hour + 2, minute: late ? 59 : minute, comment: 'restore drills after the weekly backup' }],
      timezone: config.schedule.timezone,
    },
    workflowType: 'scheduledDrillsWorkflow',
    args: [{ tiers: [...SCHEDULED_TIERS] }],
    workflowId: 'drill-scheduled',
    kind: 'drill',
    summary: `restore drills of the newest ${SCHEDULED_TIERS.join(', ')} sets`,
  };
}

export function healthSchedule(config: Config): WorkflowSchedule {
  return {
    scheduleId: HEALTH_SCHEDULE_ID,
    setting: config.healthSchedule,
    spec: { calendars: [{ minute: 23, hour: '*', comment: 'health check every hour' }], timezone: config.schedule.timezone },
    workflowType: 'healthWorkflow',
    args: [{ components: config.components }],
    workflowId: 'health-scheduled',
    kind: 'health',
    summary: 'health check: every store probed and BACKUP_DIR looked at from the worker',
    runTimeout: '10 minutes',
  };
}

/** Creates, updates, or (set to `off`) deletes the schedule; an unchanged one is left alone, a paused one stays paused. */
export async function applyWorkflowSchedule(client: Client, config: Config, schedule: WorkflowSchedule, searchAttributes: boolean): Promise<WorkflowScheduleOutcome> {
  const handle = client.schedule.getHandle(schedule.scheduleId);
  let exists = true;
  let applied: unknown;
  try {
    const current = await handle.describe();
    applied = current.action.type === 'startWorkflow' ? current.action.memo?.appliedSchedule : undefined;
  } catch (error) {
    if (!(error instanceof ScheduleNotFoundError)) throw error;
    exists = false;
  }
  if (schedule.setting === 'off') {
    if (!exists) return 'off';
    await handle.delete();
    return 'deleted';
  }
  const spec: ScheduleOptions['spec'] = schedule.setting ? { cronExpressions: [schedule.setting], timezone: config.schedule.timezone } : schedule.spec;
  const fingerprint = JSON.stringify({ spec, args: schedule.args, taskQueue: config.temporal.taskQueue, searchAttributes });
  const options: ScheduleOptions = {
    scheduleId: schedule.scheduleId,
    spec,
    action: {
      type: 'startWorkflow',
      workflowType: schedule.workflowType,
      taskQueue: config.temporal.taskQueue,
      workflowId: schedule.workflowId,
      args: schedule.args,
      memo: { appliedSchedule: fingerprint },
      staticSummary: schedule.summary,
      ...(schedule.runTimeout ? { workflowRunTimeout: schedule.runTimeout } : {}),
      ...(searchAttributes ? { typedSearchAttributes: startAttributes(schedule.kind) } : {}),
    },
    policies: { overlap: ScheduleOverlapPolicy.SKIP, catchupWindow: 24 * 3_600_000, pauseOnFailure: false },
  };
  if (!exists) {
    await client.schedule.create(options);
    return 'created';
  }
  if (applied === fingerprint) return 'unchanged';
  await handle.update((previous) => ({ ...previous, spec: options.spec, action: options.action, policies: options.policies, state: previous.state }));
  return 'updated';
}
