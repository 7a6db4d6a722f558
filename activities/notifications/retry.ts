import type { ChannelOutcome } from '../../core/contract';

/** Attempts per channel, and the waits between them. */
export const ATTEMPTS = 3;
export const BACKOFF_MS: readonly number[] = [1_000, 2_000];
/** The longest a receiver's `Retry-After` may make us wait before the next attempt. */
const MAX_RETRY_AFTER_MS = 10_000;

/** A failed attempt, already described without secrets; `retryAfterMs` when the receiver asked to wait. */
export class DeliveryError extends Error {
  override name = 'DeliveryError';
  constructor(
    message: string,
    readonly retryAfterMs?: number,
  ) {
    super(message);
  }
}

export interface AttemptLog {
  warn(fields: Record<string, unknown>, message: string): void;
  error(fields: Record<string, unknown>, message: string): void;
  info(fields: Record<string, unknown>, message: string): void;
}

/**
 * Runs `attempt` up to ATTEMPTS times with a short backoff. Never throws: the last failure becomes
 * `delivered: false` with its (secret-free) description. `describe` turns whatever was thrown into
 * that description.
 */
export async function deliverWithRetry(
  channel: ChannelOutcome['channel'],
  attempt: () => Promise<void>,
  describe: (error: unknown) => string,
  log: AttemptLog,
  sleep: (ms: number) => Promise<void> = delay,
): Promise<ChannelOutcome> {
  let lastError = '';
  for (let number = 1; number <= ATTEMPTS; number++) {
    try {
      await attempt();
      log.info({ channel, attempt: number }, `notification delivered by ${channel}`);
      return { channel, delivered: true };
    } catch (error) {
      lastError = describe(error);
      if (number === ATTEMPTS) break;
      const backoff = BACKOFF_MS[number - 1] ?? BACKOFF_MS[BACKOFF_MS.length - 1] ?? 1_000;
      const asked = error instanceof DeliveryError && error.retryAfterMs !== undefined ? Math.min(error.retryAfterMs, MAX_RETRY_AFTER_MS) : 0;
      const wait = Math.max(backoff, asked);
      log.warn({ channel, attempt: number, of: ATTEMPTS, retryInMs: wait }, `notification by ${channel} failed, retrying: ${lastError}`);
      await sleep(wait);
    }
  }
  log.error({ channel, attempts: ATTEMPTS }, `notification by ${channel} not delivered after ${ATTEMPTS} attempts: ${lastError}`);
  return { channel, delivered: false, error: lastError };
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
