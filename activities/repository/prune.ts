/** Retention applied to BACKUP_DIR: the policy of core/retention.ts, then deletion of whole sets only. */
import { planRetention, type RetentionCandidate, type RetentionRules } from '../../core/retention';
import type { Manifest } from '../../core/manifest';
import type { PruneReport } from '../../core/workflow-types';
import { isSetName } from '../../core/set-names';
import type { Tier } from '../../core/tiers';
import { listSets, type SetListing } from './sets';
import { pruneSafetySnapshots } from './safety-snapshots';
import { currentHold, deleteUnlessHeld, removeLapsedHolds, restoreInterruptedDeletions, type SetHold } from './set-holds';


function candidateOf(set: SetListing, hold: SetHold | undefined): RetentionCandidate {
  const heldBy = hold ? { heldBy: describeHold(hold) } : {};
  const manifest = set.manifest;
  if (!manifest) return { name: set.name, status: 'unreadable', verified: false, ...heldBy };
  return { name: set.name, tier: manifest.tier, status: manifest.status, verified: isVerified(manifest), ...heldBy };
}

function describeHold(hold: SetHold): string {
  return `${hold.workflowId} (since ${hold.since.slice(0, 16).replace('T', ' ')} UTC)`;
}

/** Whether the backup read every file of the set back before sealing it: what makes a set evidence for retention. */
export function isVerified(manifest: Manifest): boolean {
  return manifest.status === 'complete' && Object.values(manifest.stores).every((record) => record?.status === 'ok' && record.checks.length > 0);
}

/** Decides every set in BACKUP_DIR and, with `apply`, deletes those the policy gives up. */
export async function pruneSets(
  backupDir: string,
  rules: RetentionRules,
  now: Date,
  options: { tiers?: readonly Tier[]; apply: boolean },
): Promise<PruneReport> {
  if (options.apply) await restoreInterruptedDeletions(backupDir);
  const sets = await listSets(backupDir);
  const candidates = await Promise.all(sets.map(async (set) => candidateOf(set, await currentHold(backupDir, set.name, now))));
  const decisions = planRetention(candidates, rules, now, { tiers: options.tiers });
  const deleted: string[] = [];
  if (options.apply) {
    for (const [index, decision] of decisions.entries()) {
      if (decision.action !== 'delete' || !isSetName(decision.name)) continue;
      // A run may have begun to read the set since it was decided: its hold keeps it.
      const hold = await deleteUnlessHeld(backupDir, decision.name, now);
      if (hold) decisions[index] = { name: decision.name, action: 'keep', reason: `${decision.reason}; kept while ${describeHold(hold)} reads it` };
      else deleted.push(decision.name);
    }
    await removeLapsedHolds(backupDir, now);
  }
  // Safety snapshots kept after a rollback live as long as a daily set; empty restore folders go now.
  if (options.apply) await pruneSafetySnapshots(backupDir, rules.days.daily, now);
  return { decisions, deleted };
}
