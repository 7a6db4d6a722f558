import { CancellationScope, log } from '@temporalio/workflow';
import type { Notification } from '../core/contract';
import { notifications, withSummary } from './activity-proxies';
import { reasonOf } from './failure-reasons';

/** A notification on behalf of a CLI command (a failed health-check): sent from the worker, visible in the Web UI. */
export async function notifyWorkflow(notification: Notification): Promise<void> {
  await notify(notification);
}

/** Notifications never fail a run, and still go out when the run is being cancelled. */
export async function notify(notification: Notification): Promise<void> {
  try {
    await CancellationScope.nonCancellable(() => withSummary(notifications.notify, `Notify: ${notification.title}`)(notification));
  } catch (error) {
    log.warn('notification failed', { reason: reasonOf(error) });
  }
}
