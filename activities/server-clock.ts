import { Context } from '@temporalio/activity';

/**
 * The Temporal server's clock, read inside an activity: when the server scheduled this attempt, plus
 * the time since on the worker's monotonic clock. Set names come from the workflow's clock, which is
 * the server's; retention and a manifest's times read this one, so a jump of the worker's wall clock
 * neither ages sets wrongly nor ends a set before it started. (Time an attempt waited in the queue
 * makes it run early: retention then deletes later, never sooner.)
 */
export function serverClock(): () => Date {
  const scheduled = Context.current().info.currentAttemptScheduledTimestampMs;
  const since = performance.now();
  return () => new Date(scheduled + (performance.now() - since));
}
