/**
 * The fourth Temporal Schedule: restore drills of the newest complete set of every tier, weekly, two
 * hours after the weekly backup unless BACKUP_DRILL_SCHEDULE says otherwise (a cron expression, or off).
 */
import { ScheduleNotFoundError, ScheduleOverlapPolicy, type Client, type ScheduleOptions } from '@temporalio/client';
import type { Config } from '../core/config';
import { DRILL_SCHEDULE_ID } from '../core/drills';
import { SCHEDULED_TIERS } from '../core/schedules';
import { startAttributes } from '../core/search-attributes';
import type { ApplyOutcome } from './schedules';

export type DrillScheduleOutcome = ApplyOutcome | 'off' | 'deleted';

function specOf(config: Config): ScheduleOptions['spec'] {
  const custom = config.drill.schedule;
  if (custom) return { cronExpressions: [custom], timezone: config.schedule.timezone };
  const { day, hour, minute } = config.schedule.weekly;
  // Two hours after the weekly backup (same day unless that crosses midnight; then at 23:59 of that day).
  const late = hour + 2 > 23;
  return {
    calendars: [{ dayOfWeek: day, hour: late ? 23 : hour + 2, minute: late ? 59 : minute, comment: 'restore drills after the weekly backup' }],
    timezone: config.schedule.timezone,
  };
}

export async function applyDrillSchedule(client: Client, config: Config, searchAttributes: boolean): Promise<DrillScheduleOutcome> {
  const handle = client.schedule.getHandle(DRILL_SCHEDULE_ID);
  let exists = true;
  let applied: unknown;
  try {
    const current = await handle.describe();
    applied = current.action.type === 'startWorkflow' ? current.action.memo?.appliedSchedule : undefined;
  } catch (error) {
    if (!(error instanceof ScheduleNotFoundError)) throw error;
    exists = false;
  }
  if (config.drill.schedule === 'off') {
    if (!exists) return 'off';
    await handle.delete();
    return 'deleted';
  }
  const spec = specOf(config);
  const fingerprint = JSON.stringify({ spec, taskQueue: config.temporal.taskQueue, searchAttributes });
  const options: ScheduleOptions = {
    scheduleId: DRILL_SCHEDULE_ID,
    spec,
    action: {
      type: 'startWorkflow',
      workflowType: 'scheduledDrillsWorkflow',
      taskQueue: config.temporal.taskQueue,
      workflowId: 'drill-scheduled',
      args: [{ tiers: [...SCHEDULED_TIERS] }],
      memo: { appliedSchedule: fingerprint },
      staticSummary: `restore drills of the newest ${SCHEDULED_TIERS.join(', ')} sets`,
      ...(searchAttributes ? { typedSearchAttributes: startAttributes('drill') } : {}),
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
