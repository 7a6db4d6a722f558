import { WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure, TemporalFailure } from '@temporalio/common';

/** The innermost failure of a failed run: the reason a person needs, not the wrapping layers. */
export function rootFailure(error: unknown): Error {
  let current: unknown = error;
  while ((current instanceof WorkflowFailedError || current instanceof TemporalFailure) && current.cause) current = current.cause;
  return current instanceof Error ? current : new Error(String(current));
}

/** The details a workflow attached to its failure, e.g. the partial set's summary. */
export function failureDetails<T>(error: unknown, type: string): T | undefined {
  let current: unknown = error;
  while (current) {
    if (current instanceof ApplicationFailure && current.type === type) return current.details?.[0] as T | undefined;
    current = current instanceof WorkflowFailedError || current instanceof TemporalFailure ? current.cause : undefined;
  }
  return undefined;
}
