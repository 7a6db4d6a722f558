/**
 * Live progress of a running workflow, read from the heartbeats of its pending activities
 * (`describe()`), so it works from any terminal and needs nothing from the worker but its heartbeats.
 */
import type { WorkflowHandle } from '@temporalio/client';
import type { Workflow, WorkflowResultType } from '@temporalio/common';
import { defaultPayloadConverter } from '@temporalio/common';
import { optionalTsToMs } from '@temporalio/common/lib/time';
import type { StoreProgress } from '../core/contract';
import { formatBytes } from './format';
import { reconnectPatienceMs, resultThroughOutages } from './wait-through-outages';

interface ActivityProgress {
  activity: string;
  phase: string;
  bytes: number;
  attempt: number;
}

type PendingActivity = NonNullable<Awaited<ReturnType<WorkflowHandle<Workflow>['describe']>>['raw']['pendingActivities']>[number];

/**
 * What an attempt reported itself. Temporal keeps an activity's last heartbeat across attempts, so
 * details older than the current attempt's start are the previous attempt's, not this one's.
 */
export function progressOf(pending: PendingActivity): ActivityProgress {
  const attempt = pending.attempt ?? 1;
  const startedAt = optionalTsToMs(pending.lastStartedTime);
  const heartbeatAt = optionalTsToMs(pending.lastHeartbeatTime);
  const fromThisAttempt = attempt <= 1 || (startedAt !== undefined && heartbeatAt !== undefined && heartbeatAt >= startedAt);
  const payload = fromThisAttempt ? pending.heartbeatDetails?.payloads?.[0] : undefined;
  const details = payload ? (defaultPayloadConverter.fromPayload(payload) as StoreProgress) : undefined;
  const waiting = attempt > 1 && startedAt === undefined ? 'waiting to retry' : attempt > 1 ? 'resuming' : 'scheduled';
  return {
    activity: pending.activityType?.name ?? 'activity',
    phase: details?.phase ?? waiting,
    bytes: details?.bytes ?? 0,
    attempt,
  };
}

async function pendingProgress(handle: WorkflowHandle<Workflow>): Promise<ActivityProgress[]> {
  const description = await handle.describe();
  return (description.raw.pendingActivities ?? []).map(progressOf);
}

/**
 * Prints progress until the workflow's result settles; returns (or throws) that result. Lost contact
 * with Temporal is waited through (see wait-through-outages.ts); `url` is the run's Web UI page.
 */
export async function watchWorkflow<T extends Workflow>(
  handle: WorkflowHandle<T>,
  output: NodeJS.WriteStream,
  intervalMs = 1000,
  url?: string,
): Promise<WorkflowResultType<T>> {
  const result = resultThroughOutages(handle, {
    patienceMs: reconnectPatienceMs(),
    howToFollow: `follow it with \`scholaria-backup status\` or \`scholaria-backup runs\`${url ? `, or in the Web UI: ${url}` : ''}`,
    onLostContact: (message) => output.write(`  ${message}\n`),
  });
  let settled = false;
  result.then(
    () => (settled = true),
    () => (settled = true),
  );
  const lastShown = new Map<string, { state: string; bytes: number; at: number }>();
  while (!settled) {
    let pause: NodeJS.Timeout | undefined;
    await Promise.race([result.catch(() => undefined), new Promise((resolve) => (pause = setTimeout(resolve, intervalMs)))]);
    // A pause left running would hold the process up to a second after the run ended.
    clearTimeout(pause);
    if (settled) break;
    let progress: ActivityProgress[];
    try {
      progress = await pendingProgress(handle);
    } catch {
      continue;
    }
    const now = Date.now();
    for (const item of progress) {
      // A new phase or attempt is shown at once; growing byte counts at most every five seconds.
      const state = `${item.phase}|${item.attempt}`;
      const previous = lastShown.get(item.activity);
      const due = !previous || previous.state !== state || (previous.bytes !== item.bytes && now - previous.at >= 5000);
      if (!due) continue;
      const retry = item.attempt > 1 ? ` (attempt ${item.attempt})` : '';
      const bytes = item.bytes > 0 ? `  ${formatBytes(item.bytes)}` : '';
      output.write(`  ${item.activity.padEnd(18)} ${item.phase}${bytes}${retry}\n`);
      lastShown.set(item.activity, { state, bytes: item.bytes, at: now });
    }
  }
  return result;
}
