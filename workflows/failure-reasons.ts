import { ApplicationFailure, TemporalFailure } from '@temporalio/workflow';

/** The innermost message of a failure chain: what actually went wrong, not "Activity task failed". */
export function reasonOf(error: unknown): string {
  let current: unknown = error;
  while (current instanceof TemporalFailure && current.cause) current = current.cause;
  if (current instanceof Error) {
    return current.message === 'TIMEOUT_TYPE_HEARTBEAT'
      ? 'the worker stopped sending heartbeats'
      : current.message || current.name;
  }
  return String(current);
}

/** The failure type at the bottom of the chain, e.g. `ConfigError`. */
export function failureTypeOf(error: unknown): string | undefined {
  let current: unknown = error;
  while (current instanceof TemporalFailure && current.cause) current = current.cause;
  return current instanceof ApplicationFailure ? (current.type ?? undefined) : undefined;
}
