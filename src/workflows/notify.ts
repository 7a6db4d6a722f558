import { CancellationScope, log } from '@temporalio/workflow';
import type { Notification } from '../core/contract';
import { notifications } from './activities';
import { reasonOf } from './failures';

/** Notifications never fail a run, and still go out when the run is being cancelled. */
export async function notify(notification: Notification): Promise<void> {
  try {
    await CancellationScope.nonCancellable(() => notifications.notify(notification));
  } catch (error) {
    log.warn('notification failed', { reason: reasonOf(error) });
  }
}
