import type { Client } from '@temporalio/client';
import type { Config } from '../../core/config';
import { auditFromCli } from '../audit';
import { SCHEDULED_TIERS, type ScheduledTier } from '../../core/schedules';
import { connectTemporal, UserError } from '../connection';
import { formatDuration, formatTable } from '../format';
import { applySchedules, backfillSchedule, listSchedules, setPaused, triggerSchedule, type ScheduleRow } from '../schedules';

function tiersOf(argument: string): ScheduledTier[] {
  if (argument === 'all') return [...SCHEDULED_TIERS];
  if (!(SCHEDULED_TIERS as readonly string[]).includes(argument)) {
    throw new UserError(`unknown schedule "${argument}"; choose from ${SCHEDULED_TIERS.join(', ')} or all`);
  }
  return [argument as ScheduledTier];
}

function parseMoment(text: string, option: string): Date {
  const date = new Date(text);
  if (Number.isNaN(date.getTime())) throw new UserError(`${option} "${text}" is not a date; use ISO 8601, e.g. 2026-03-01T00:00:00Z`);
  return date;
}

export async function schedulesCommand(
  config: Config,
  action: 'apply' | 'list' | 'pause' | 'resume' | 'trigger' | 'backfill',
  argument: string | undefined,
  options: { json?: boolean; note?: string; from?: string; to?: string },
): Promise<number> {
  const tiers = action === 'apply' || action === 'list' ? [...SCHEDULED_TIERS] : tiersOf(argument ?? '');
  const client = await connectTemporal(config);
  const audited = action === 'apply' || action === 'pause' || action === 'resume' || action === 'trigger';
  let outcome = 'failed';
  let reason: string | undefined;
  try {
    const code = await runScheduleAction(client, config, action, tiers, options);
    outcome = 'done';
    return code;
  } catch (error) {
    reason = (error as Error).message.split('\n')[0];
    throw error;
  } finally {
    if (audited) await auditFromCli(client, config, { event: 'schedule', action, target: tiers.join(','), outcome: reason ? `failed: ${reason}` : outcome, reason });
    await client.connection.close();
  }
}

async function runScheduleAction(
  client: Client,
  config: Config,
  action: 'apply' | 'list' | 'pause' | 'resume' | 'trigger' | 'backfill',
  tiers: ScheduledTier[],
  options: { json?: boolean; note?: string; from?: string; to?: string },
): Promise<number> {
  switch (action) {
    case 'apply': {
      const outcomes = await applySchedules(client, config);
      if (options.json) process.stdout.write(`${JSON.stringify(outcomes, null, 2)}\n`);
      else for (const tier of [...SCHEDULED_TIERS, 'drill'] as const) process.stdout.write(`${tier.padEnd(8)} ${outcomes[tier]}\n`);
      return 0;
    }
    case 'list': {
      const rows = await listSchedules(client, config);
      process.stdout.write(options.json ? `${JSON.stringify(rows, null, 2)}\n` : `${scheduleTable(rows)}\n`);
      return 0;
    }
    case 'pause':
    case 'resume':
      await setPaused(client, config, tiers, action === 'pause', options.note ?? `${action}d from the CLI`);
      process.stdout.write(`${tiers.join(', ')}: ${action === 'pause' ? 'paused' : 'resumed'}\n`);
      return 0;
    case 'trigger':
      if (tiers.length !== 1) throw new UserError('trigger one tier at a time');
      await triggerSchedule(client, tiers[0]!, config);
      process.stdout.write(`${tiers[0]}: triggered (skipped if a ${tiers[0]} backup is still running)\n`);
      return 0;
    case 'backfill': {
      if (!options.from || !options.to) throw new UserError('backfill needs --from and --to');
      const start = parseMoment(options.from, '--from');
      const end = parseMoment(options.to, '--to');
      if (end <= start) throw new UserError('--to must be after --from');
      for (const tier of tiers) await backfillSchedule(client, tier, config, start, end);
      process.stdout.write(`${tiers.join(', ')}: backfill requested for ${start.toISOString()} to ${end.toISOString()}\n`);
      return 0;
    }
  }
}

export function scheduleTable(rows: readonly ScheduleRow[]): string {
  const now = Date.now();
  return formatTable(
    ['TIER', 'WHEN', 'STATE', 'NEXT RUNS', 'LAST RUN'],
    rows.map((row) => [
      row.tier,
      row.when,
      !row.exists ? 'missing (run `schedules apply`)' : row.paused ? `paused${row.note ? ` (${row.note})` : ''}` : 'active',
      row.nextRuns.map((time) => time.toISOString().replace(':00.000Z', 'Z')).join(', ') || '-',
      row.lastRun ? `${row.lastRun.status.toLowerCase()} ${formatDuration(now - row.lastRun.scheduledAt.getTime())} ago (${row.lastRun.workflowId})` : '-',
    ]),
  );
}
