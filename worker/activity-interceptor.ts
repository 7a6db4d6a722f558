/**
 * What every activity gets from the worker rather than from a wrapper of its own (as dust-tt/dust's
 * workers do with their activity log interceptor): its start, end and failure logged to the run's tier
 * log, redacted; every failure leaving as a one-line, secret-free Temporal failure whose type says
 * whether a retry can help (`toActivityFailure`); and a keep-alive heartbeat for activities that do
 * not report progress themselves, so a slow `DROP DATABASE` or snapshot delete never outlasts its
 * heartbeat timeout and a cancellation still reaches it.
 */
import type { Context } from '@temporalio/activity';
import { CancelledFailure } from '@temporalio/common';
import type { ActivityExecuteInput, ActivityInboundCallsInterceptor, ActivityInterceptorsFactory, Next } from '@temporalio/worker';
import type { Config } from '../core/config';
import { isTier } from '../core/tiers';
import { toActivityFailure } from '../activities/activity-failures';
import { progressOf } from '../activities/heartbeat';
import { tierLogger } from '../activities/logging';

/** How often the keep-alive beats: well inside the shortest heartbeat timeout (15 s). */
const KEEP_ALIVE_MS = 3000;

class ActivityLogInterceptor implements ActivityInboundCallsInterceptor {
  constructor(
    private readonly context: Context,
    private readonly config: Pick<Config, 'logDir' | 'logLevel' | 'backupDir'>,
  ) {}

  async execute(input: ActivityExecuteInput, next: Next<ActivityInboundCallsInterceptor, 'execute'>): Promise<unknown> {
    const info = this.context.info;
    const workflowId = info.workflowExecution?.workflowId ?? 'standalone';
    const category = logCategoryOf(workflowId, info.workflowType ?? 'standalone');
    const logger = tierLogger(this.config.logDir, category, this.config.logLevel).child({
      activity: info.activityType,
      workflowId,
      attempt: info.attempt,
    });
    const started = performance.now();
    logger.info('activity started');
    const keepAlive = setInterval(() => {
      const { reporting, last } = progressOf(this.context);
      // An activity reporting progress heartbeats itself; after it stopped, its last details are repeated.
      if (!reporting) this.context.heartbeat(last);
    }, KEEP_ALIVE_MS);
    try {
      const result = await next(input);
      logger.info({ ms: Math.round(performance.now() - started) }, 'activity finished');
      return result;
    } catch (error) {
      // Whatever an activity throws once it was cancelled is that cancellation: the run then reports
      // the store as stopped, not as failed with the error its killed child or closed socket raised.
      if (this.context.cancellationSignal.aborted) {
        logger.warn({ ms: Math.round(performance.now() - started) }, 'activity cancelled');
        throw error instanceof CancelledFailure ? error : new CancelledFailure(`${info.activityType} was cancelled`);
      }
      const failure = toActivityFailure(error, this.config.backupDir);
      logger.error({ ms: Math.round(performance.now() - started), failure: failure.type, retryable: !failure.nonRetryable }, failure.message);
      throw failure;
    } finally {
      clearInterval(keepAlive);
    }
  }
}

export function activityInterceptors(config: Pick<Config, 'logDir' | 'logLevel' | 'backupDir'>): ActivityInterceptorsFactory {
  return (context) => ({ inbound: new ActivityLogInterceptor(context, config) });
}

/** `backup-daily-20260301T020000Z` logs to the daily file; other runs to a file named after their kind. */
function logCategoryOf(workflowId: string, workflowType: string): string {
  const tier = /^backup-([a-z]+)-/.exec(workflowId)?.[1];
  return tier && isTier(tier) ? tier : workflowType.replace(/Workflow$/, '');
}
