import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import type { Config } from '../core/config';
import { isTier } from '../core/tiers';
import { NON_RETRYABLE_FAILURES, type NonRetryableFailure } from '../core/contract';
import { redactSecrets } from '../core/redaction';
import { tierLogger } from './logging';

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

/**
 * Wraps an activity implementation: its start, end and failure are logged to the run's tier log,
 * and every failure leaves it through `toActivityFailure`.
 */
export function asActivity<I extends unknown[], O>(
  config: Pick<Config, 'logDir' | 'logLevel'>,
  implementation: (...input: I) => Promise<O>,
): (...input: I) => Promise<O> {
  return async (...input: I) => {
    const info = Context.current().info;
    const workflowId = info.workflowExecution?.workflowId ?? 'standalone';
    const category = logCategoryOf(workflowId, info.workflowType ?? 'standalone');
    const logger = tierLogger(config.logDir, category, config.logLevel).child({
      activity: info.activityType,
      workflowId,
      attempt: info.attempt,
    });
    const started = Date.now();
    logger.info('activity started');
    try {
      const result = await implementation(...input);
      logger.info({ ms: Date.now() - started }, 'activity finished');
      return result;
    } catch (error) {
      const failure = toActivityFailure(error);
      logger.error({ ms: Date.now() - started, failure: failure.type, retryable: !failure.nonRetryable }, failure.message);
      throw failure;
    }
  };
}

/** `backup-daily-20260301T020000Z` logs to the daily file; other runs to a file named after their kind. */
function logCategoryOf(workflowId: string, workflowType: string): string {
  const tier = /^backup-([a-z]+)-/.exec(workflowId)?.[1];
  return tier && isTier(tier) ? tier : workflowType.replace(/Workflow$/, '');
}
