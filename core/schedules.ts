/**
 * The three backup schedules as the configuration wants them, independent of Temporal's client:
 * which tier, when (calendar and time zone), how long a missed run may still be caught up, and
 * what each run does. `schedules apply` turns these into Temporal Schedules.
 */
import type { Config } from './config';
import type { StoreName } from './stores';
import type { Tier } from './tiers';

export type ScheduledTier = Exclude<Tier, 'manual'>;
export const SCHEDULED_TIERS: readonly ScheduledTier[] = ['daily', 'weekly', 'monthly'];

export interface DesiredSchedule {
  tier: ScheduledTier;
  scheduleId: string;
  /** Prefix of the runs' workflow ids; the server appends the scheduled time. */
  workflowId: string;
  calendar: { hour: number; minute: number; dayOfWeek?: string; dayOfMonth?: number; comment: string };
  timezone: string;
  /** A run missed while the system was down still starts if it is back within this long. */
  catchupWindowMs: number;
  input: { tier: ScheduledTier; components: StoreName[] };
  /** Everything above in one string: equal fingerprints mean `apply` has nothing to change. */
  fingerprint: string;
}

const HOUR = 3_600_000;
/** Until shortly before the tier's next run: a late backup is better than none, two at once are not. */
const CATCHUP: Record<ScheduledTier, number> = { daily: 20 * HOUR, weekly: 6 * 24 * HOUR, monthly: 27 * 24 * HOUR };

export function scheduleIdOf(tier: ScheduledTier): string {
  return `scholaria-backup-${tier}`;
}

export function desiredSchedules(config: Pick<Config, 'schedule' | 'components'>): DesiredSchedule[] {
  const { daily, weekly, monthly, timezone } = config.schedule;
  const at = (time: { hour: number; minute: number }) => `${String(time.hour).padStart(2, '0')}:${String(time.minute).padStart(2, '0')}`;
  const calendars: Record<ScheduledTier, DesiredSchedule['calendar']> = {
    daily: { hour: daily.hour, minute: daily.minute, comment: `daily at ${at(daily)} ${timezone}` },
    weekly: { hour: weekly.hour, minute: weekly.minute, dayOfWeek: weekly.day, comment: `every ${weekly.day.toLowerCase()} at ${at(weekly)} ${timezone}` },
    monthly: { hour: monthly.hour, minute: monthly.minute, dayOfMonth: monthly.day, comment: `on day ${monthly.day} of every month at ${at(monthly)} ${timezone}` },
  };
  return SCHEDULED_TIERS.map((tier) => {
    const desired = {
      tier,
      scheduleId: scheduleIdOf(tier),
      workflowId: `backup-${tier}`,
      calendar: calendars[tier],
      timezone,
      catchupWindowMs: CATCHUP[tier],
      input: { tier, components: [...config.components] },
    };
    return { ...desired, fingerprint: JSON.stringify(desired) };
  });
}
