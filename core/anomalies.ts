/**
 * Unusual activity, judged from the audit trail and what BACKUP_DIR holds (pure: the reading is in
 * activities/anomalies.ts). Each anomaly is one line for `health-check` and its notification.
 */
import { isFailedOutcome, type AuditEntry } from './audit';
import { retentionDaysOf, type RetentionRules } from './retention';
import { timeOfSetName } from './set-names';
import { TIERS, type Tier } from './tiers';

const DAY = 86_400_000;

export interface AnomalyRules {
  retention: RetentionRules;
  /** More failed restores or verifies than this within 24 hours is an anomaly. */
  maxFailuresPerDay: number;
}

/** The tier of an audited backup: recorded, or read from its workflow id (`backup-<tier>-…`, scheduled or not). */
function tierOfEntry(entry: AuditEntry): Tier | undefined {
  const tier = entry.tier ?? /^backup-([a-z]+)-/.exec(entry.workflowId)?.[1];
  return (TIERS as readonly string[]).includes(tier ?? '') ? (tier as Tier) : undefined;
}

/** Whether `set` of `tier` is older than its tier's retention at `now`. */
function pastRetention(set: string, tier: Tier | undefined, rules: RetentionRules, now: Date): boolean {
  const taken = timeOfSetName(set);
  if (!taken || !tier) return false;
  return now.getTime() - taken.getTime() > retentionDaysOf(tier, rules) * DAY;
}

/**
 * Sets a backup wrote (per the audit trail) that are gone from BACKUP_DIR although neither retention
 * nor `prune` deleted them and their retention has not run out.
 */
export function setsDeletedOutsideRetention(entries: readonly AuditEntry[], onDisk: ReadonlySet<string>, rules: RetentionRules, now: Date): string[] {
  const removed = new Set(entries.filter((entry) => entry.event === 'prune' || entry.event === 'retention').flatMap((entry) => entry.deleted ?? []));
  const written = new Map<string, Tier | undefined>();
  for (const entry of entries) {
    if (entry.event === 'backup' && entry.set && (entry.outcome === 'complete' || entry.outcome === 'partial')) written.set(entry.set, tierOfEntry(entry));
  }
  return [...written]
    .filter(([set, tier]) => !onDisk.has(set) && !removed.has(set) && !pastRetention(set, tier, rules, now))
    .map(([set]) => `set ${set} was deleted from BACKUP_DIR, but neither retention nor prune deleted it (audit.jsonl records its backup, no deletion)`);
}

/**
 * A restore (or dry run) from a set older than its tier's retention when it ran, one line; undefined
 * for any other entry. Judged at the restore's own time, so a later look gives the same answer.
 */
export function restoreFromExpiredSet(entry: AuditEntry, retention: RetentionRules): string | undefined {
  if (entry.event !== 'restore' || !entry.set) return undefined;
  const tier = tierOfEntry(entry);
  if (!pastRetention(entry.set, tier, retention, new Date(entry.at))) return undefined;
  return `${entry.by} ${entry.dryRun ? 'dry-ran a restore' : 'restored'} from ${entry.set}, older than the ${retentionDaysOf(tier!, retention)}-day ${tier} retention (${entry.workflowId})`;
}

/** Anomalies of the last 24 hours in the audit trail: too many failed restores or verifies, restores from sets past their retention. */
export function auditAnomalies(entries: readonly AuditEntry[], rules: AnomalyRules, now: Date): string[] {
  const recent = entries.filter((entry) => now.getTime() - Date.parse(entry.at) <= DAY);
  const lines: string[] = [];
  const failed = recent.filter((entry) => (entry.event === 'restore' || entry.event === 'verify') && isFailedOutcome(entry.outcome));
  if (failed.length > rules.maxFailuresPerDay) {
    lines.push(
      `${failed.length} restores or verifies failed in the last 24 hours (more than BACKUP_AUDIT_MAX_FAILURES_PER_DAY=${rules.maxFailuresPerDay}): ${failed
        .slice(-3)
        .map((entry) => `${entry.event} of ${entry.set ?? 'an unknown set'} by ${entry.by}`)
        .join('; ')}`,
    );
  }
  for (const entry of recent) {
    const expired = restoreFromExpiredSet(entry, rules.retention);
    if (expired) lines.push(expired);
  }
  return lines;
}
