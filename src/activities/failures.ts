import { ApplicationFailure } from '@temporalio/common';
import { NON_RETRYABLE_FAILURES, type NonRetryableFailure } from '../core/contract';
import { redactSecrets } from '../logging';

/** Error names from libraries and adapters that mean "retrying cannot help", mapped to failure types. */
const FAILURE_TYPE_OF_ERROR: Record<string, NonRetryableFailure> = {
  RdbError: 'VerificationFailed',
  ReplicationRefusedError: 'ReplicationRefused',
};

/**
 * Turns anything an activity throws into a Temporal failure with a one-line, secret-free message.
 * Known permanent problems become non-retryable so a run never retries them forever.
 */
export function toActivityFailure(error: unknown): ApplicationFailure {
  if (error instanceof ApplicationFailure) return error;
  const err = error instanceof Error ? error : new Error(String(error));
  const message = redactSecrets(oneLine(err.message));
  const type = FAILURE_TYPE_OF_ERROR[err.name] ?? err.name;
  const nonRetryable = (NON_RETRYABLE_FAILURES as readonly string[]).includes(type);
  return ApplicationFailure.create({ message, type, nonRetryable });
}

function oneLine(text: string): string {
  return text.replace(/\s*\n\s*/g, '; ').trim();
}

/** Wraps an activity implementation so every failure leaves it through `toActivityFailure`. */
export function asActivity<I extends unknown[], O>(implementation: (...input: I) => Promise<O>): (...input: I) => Promise<O> {
  return async (...input: I) => {
    try {
      return await implementation(...input);
    } catch (error) {
      throw toActivityFailure(error);
    }
  };
}
