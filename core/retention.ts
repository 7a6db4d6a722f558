import { timeOfSetName } from './set-names';
import type { Tier } from './tiers';

/**
 * Retention: which backup sets in BACKUP_DIR may be deleted. A pure function of the sets, the rules
 * and the current time (passed in), so workflows can call it and tests can pin every case.
 *
 * The rules (issue "Retention that never deletes the last good backup"):
 * - A complete set is deleted only when it is older than its tier's retention AND a newer complete,
 *   verified set of the same tier exists that is itself within that retention, i.e. still a valid
 *   recovery point. So when backups of a tier have stopped (every set of it is older than the
 *   retention), nothing of that tier is deleted.
 * - The newest complete set of each tier is never deleted (implied by the rule above, checked anyway).
 * - Partial and unreadable sets never count as the newer set; they are deleted once older than the
 *   daily retention, whatever their tier.
 * - Clock skew: a set dated after `now` is never deleted and never counts as the newer set.
 * - "Older than N days" is strict: a set exactly N×24 h old is still within the retention.
 * - A set a run is reading (a restore, a verify, a drill) is kept, whatever else the rules say.
 * - Manual sets follow the monthly retention: they are rare, deliberate (often taken before a risky
 *   change) and have no setting of their own; see `retentionDaysOf`.
 *
 * Only whole sets are decided, and only by name: the caller lists BACKUP_DIR and passes the folders
 * whose name is a set name; anything else (staging folders, stray files) must not be passed and is
 * refused with a RangeError, so nothing else can ever be deleted.
 */

const DAY_MS = 24 * 60 * 60 * 1000;

export interface RetentionCandidate {
  /** The folder name in BACKUP_DIR, `scholaria_backup_YYYYMMDD_HHMMSS` (UTC); the set's time is read from it. */
  name: string;
  /** From the manifest; may be undefined only for an unreadable set (no manifest to read it from). */
  tier?: Tier;
  /** `unreadable`: the manifest is missing or cannot be parsed. */
  status: 'complete' | 'partial' | 'unreadable';
  /** Whether the backup verified the set (read every file back) before sealing it; matters for complete sets only. */
  verified: boolean;
  /** The run reading the set now (a restore, verify or drill holds it), which no deletion may pull the files from under. */
  heldBy?: string;
}

/** Days per tier, the shape of `Config['retentionDays']`. */
export interface RetentionRules {
  days: { daily: number; weekly: number; monthly: number };
}

export interface RetentionDecision {
  name: string;
  action: 'keep' | 'delete';
  /** One line a person understands. */
  reason: string;
  /** Kept although older than its retention, because no newer good set of its tier exists: backups of that tier have stopped. */
  overdue?: boolean;
}

export interface RetentionOptions {
  /**
   * Decide only the sets of these tiers (after a backup of tier X, prune runs for X only); sets of other
   * tiers are kept. Sets of unknown tier (unreadable ones) are decided in every run: their rule does not
   * depend on a tier. Undefined: every tier.
   */
  tiers?: readonly Tier[];
}

/** The retention of a tier in days; manual sets follow the monthly retention. */
export function retentionDaysOf(tier: Tier, rules: RetentionRules): number {
  return rules.days[tier === 'manual' ? 'monthly' : tier];
}

/**
 * One decision per set, in the order given. Throws RangeError on a name that is not a set name, a
 * duplicate name, a complete or partial set without a tier, an invalid `now` or a retention that is not
 * a positive number of days.
 */
export function planRetention(
  sets: readonly RetentionCandidate[],
  rules: RetentionRules,
  now: Date,
  options: RetentionOptions = {},
): RetentionDecision[] {
  const nowMs = now.getTime();
  if (Number.isNaN(nowMs)) throw new RangeError('now is not a valid date');
  for (const [tier, days] of Object.entries(rules.days)) {
    if (!Number.isFinite(days) || days <= 0) throw new RangeError(`the ${tier} retention must be a positive number of days, got ${days}`);
  }

  const seen = new Set<string>();
  const parsed = sets.map((set) => {
    const takenAt = timeOfSetName(set.name)?.getTime();
    if (takenAt === undefined) throw new RangeError(`"${set.name}" is not a backup set name; only sets may be passed to retention`);
    if (seen.has(set.name)) throw new RangeError(`backup set "${set.name}" is listed twice`);
    seen.add(set.name);
    if (set.tier === undefined && set.status !== 'unreadable') throw new RangeError(`backup set "${set.name}" is ${set.status} but has no tier`);
    return { ...set, takenAt, age: nowMs - takenAt };
  });
  type Parsed = (typeof parsed)[number];

  // Per tier: the newest complete set (any date), and the newest set that may justify deleting older
  // ones: complete, verified, not dated in the future, and within the tier's retention.
  const newestComplete = new Map<Tier, Parsed>();
  const newestEvidence = new Map<Tier, Parsed>();
  for (const set of parsed) {
    if (set.status !== 'complete' || set.tier === undefined) continue;
    const tier = set.tier;
    if (set.takenAt > (newestComplete.get(tier)?.takenAt ?? -Infinity)) newestComplete.set(tier, set);
    const isEvidence = set.verified && set.age >= 0 && set.age <= retentionDaysOf(tier, rules) * DAY_MS;
    if (isEvidence && set.takenAt > (newestEvidence.get(tier)?.takenAt ?? -Infinity)) newestEvidence.set(tier, set);
  }

  const decide = (set: Parsed): Omit<RetentionDecision, 'name'> => {
    const keep = (reason: string) => ({ action: 'keep' as const, reason });
    if (set.tier !== undefined && options.tiers !== undefined && !options.tiers.includes(set.tier)) {
      const pruned = options.tiers.length > 0 ? options.tiers.join(', ') : 'no tier';
      return keep(`${set.tier} sets are not pruned in this run (it prunes ${pruned})`);
    }
    if (set.age < 0) {
      return keep('dated in the future (clock skew?): never deleted, and not counted as a newer set');
    }

    if (set.status !== 'complete') {
      const days = rules.days.daily;
      if (set.age > days * DAY_MS) return { action: 'delete', reason: `${set.status} set older than the ${days}-day daily retention` };
      return keep(`${set.status} set within the ${days}-day daily retention`);
    }

    const tier = set.tier!; // complete sets always have a tier (checked above)
    const days = retentionDaysOf(tier, rules);
    const retention = tier === 'manual' ? `${days}-day manual retention (the monthly one)` : `${days}-day ${tier} retention`;
    if (newestComplete.get(tier) === set) return keep(`newest complete ${tier} set`);
    if (set.age <= days * DAY_MS) return keep(`within the ${retention}`);
    const evidence = newestEvidence.get(tier);
    // Evidence is within the retention and this set is not, so it is always the newer one; checked anyway.
    if (evidence !== undefined && evidence.takenAt > set.takenAt) {
      return {
        action: 'delete',
        reason: `older than the ${retention}, and a newer complete, verified ${tier} set within it exists (${evidence.name})`,
      };
    }
    return {
      ...keep(`older than the ${retention}, but no newer complete, verified ${tier} set within it exists: kept as a recovery point`),
      overdue: true,
    };
  };

  const decideHeld = (set: Parsed): Omit<RetentionDecision, 'name'> => {
    const decision = decide(set);
    if (decision.action !== 'delete' || set.heldBy === undefined) return decision;
    return { action: 'keep', reason: `${decision.reason}; kept while ${set.heldBy} reads it` };
  };
  return parsed.map((set) => ({ name: set.name, ...decideHeld(set) }));
}
