/** Retention applied to BACKUP_DIR: the policy of core/retention.ts, then deletion of whole sets only. */
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { planRetention, type RetentionCandidate, type RetentionRules } from '../../core/retention';
import type { Manifest } from '../../core/manifest';
import type { PruneReport } from '../../core/workflow-types';
import { isSetName } from '../../core/set-names';
import type { Tier } from '../../core/tiers';
import { listSets, type SetListing } from './sets';
import { pruneSafetySnapshots } from './safety-snapshots';


function candidateOf(set: SetListing): RetentionCandidate {
  const manifest = set.manifest;
  if (!manifest) return { name: set.name, status: 'unreadable', verified: false };
  return { name: set.name, tier: manifest.tier, status: manifest.status, verified: isVerified(manifest) };
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
  const sets = await listSets(backupDir);
  const decisions = planRetention(sets.map(candidateOf), rules, now, { tiers: options.tiers });
  const deleted: string[] = [];
  if (options.apply) {
    for (const decision of decisions) {
      if (decision.action !== 'delete' || !isSetName(decision.name)) continue;
      await rm(join(backupDir, decision.name), { recursive: true, force: true });
      deleted.push(decision.name);
    }
  }
  // Safety snapshots kept after a rollback live as long as a daily set; empty restore folders go now.
  if (options.apply) await pruneSafetySnapshots(backupDir, rules.days.daily, now);
  return { decisions, deleted };
}
