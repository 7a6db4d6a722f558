/**
 * Waiting for a run's result across lost contact with Temporal. A run does not depend on the
 * terminal that started it: when the server restarts or the network drops, the workflow goes on, so
 * the CLI keeps asking (with backoff) instead of reporting a failure it does not know about; when it
 * gives up, it says the run goes on and how to follow it, and exits with its own code.
 */
import { isGrpcServiceError, ServiceError, type WorkflowHandle } from '@temporalio/client';
import type { Workflow, WorkflowResultType } from '@temporalio/common';

/** The exit code of a CLI that stopped waiting while the run goes on (1 is a failed run, 2 bad usage). */
export const EXIT_STILL_RUNNING = 3;

/** How long the CLI keeps trying to reach Temporal before it stops waiting: BACKUP_WAIT_RECONNECT_SECONDS, 10 minutes by default. */
export function reconnectPatienceMs(env: NodeJS.ProcessEnv = process.env): number {
  const raw = env.BACKUP_WAIT_RECONNECT_SECONDS;
  if (raw === undefined || raw === '') return 600_000;
  const seconds = Number(raw);
  if (!Number.isFinite(seconds) || seconds < 0) throw new Error(`BACKUP_WAIT_RECONNECT_SECONDS must be a number of seconds, got "${raw}"`);
  return seconds * 1000;
}

/** The CLI stopped waiting; the run was not failed by it, and goes on. */
export class StoppedWaiting extends Error {
  override name = 'StoppedWaiting';
  readonly exitCode = EXIT_STILL_RUNNING;
}

/** gRPC status codes of a connection lost or cut: CANCELLED 1, UNKNOWN 2, DEADLINE_EXCEEDED 4, INTERNAL 13, UNAVAILABLE 14. */
const OUTAGE_CODES = new Set<number>([1, 2, 4, 13, 14]);

/** Lost contact (server down or restarting, network), as opposed to an answer about the run. */
export function isLostContact(error: unknown): boolean {
  if (error instanceof ServiceError) return error.cause === undefined || !isGrpcServiceError(error.cause) || OUTAGE_CODES.has(error.cause.code);
  return isGrpcServiceError(error) && OUTAGE_CODES.has(error.code);
}

/**
 * The run's result, asked again after every lost contact, backing off from one second to thirty;
 * after `patienceMs` without an answer, `StoppedWaiting` naming how to follow the run.
 */
export async function resultThroughOutages<T extends Workflow>(
  handle: WorkflowHandle<T>,
  options: { patienceMs: number; howToFollow: string; onLostContact?: (message: string) => void },
): Promise<WorkflowResultType<T>> {
  let lostSince: number | undefined;
  let delayMs = 1000;
  for (;;) {
    try {
      return await handle.result();
    } catch (error) {
      if (!isLostContact(error)) throw error;
      if (lostSince === undefined) {
        lostSince = Date.now();
        options.onLostContact?.(`lost contact with Temporal (${(error as Error).message.split('\n')[0]}); waiting for it to come back`);
      }
      if (Date.now() - lostSince >= options.patienceMs) {
        throw new StoppedWaiting(
          `stopped waiting after ${Math.round((Date.now() - lostSince) / 1000)} s without contact with Temporal; ${handle.workflowId} goes on without this terminal: ${options.howToFollow}`,
        );
      }
      await new Promise((resolve) => setTimeout(resolve, delayMs));
      delayMs = Math.min(delayMs * 2, 30_000);
      try {
        await handle.describe();
        lostSince = undefined;
        delayMs = 1000;
      } catch (describeError) {
        if (!isLostContact(describeError)) throw describeError;
      }
    }
  }
}
