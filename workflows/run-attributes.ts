import type { SearchAttributeUpdatePair } from '@temporalio/common';
import { upsertSearchAttributes, workflowInfo } from '@temporalio/workflow';
import { BACKUP_OUTCOME, BACKUP_SET, BACKUP_TIER, RUN_KIND, type RunOutcome } from '../core/search-attributes';
import type { Tier } from '../core/tiers';

/**
 * Records what the run learned in its search attributes (the set, its tier, the outcome), so the
 * Web UI and `scholaria-backup runs` can filter on them.
 *
 * Only for a run that was started with the project's attributes (the CLI and the schedules set
 * `BackupRunKind`): that proves the namespace has them, whereas an upsert of an attribute the
 * namespace lacks would fail every workflow task and stall the run. A run started without them
 * (the namespace could not get them, or an older starter) simply goes without.
 */
export function recordRun(update: { set?: string; tier?: Tier; outcome?: RunOutcome }): void {
  const current = workflowInfo().typedSearchAttributes;
  if (current.get(RUN_KIND) === undefined) return;
  const pairs: SearchAttributeUpdatePair[] = [];
  if (update.set !== undefined && current.get(BACKUP_SET) !== update.set) pairs.push({ key: BACKUP_SET, value: update.set });
  if (update.tier !== undefined && current.get(BACKUP_TIER) === undefined) pairs.push({ key: BACKUP_TIER, value: update.tier });
  if (update.outcome !== undefined && current.get(BACKUP_OUTCOME) !== update.outcome) pairs.push({ key: BACKUP_OUTCOME, value: update.outcome });
  if (pairs.length > 0) upsertSearchAttributes(pairs);
}
