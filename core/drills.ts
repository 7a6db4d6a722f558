/**
 * Restore drills: what a drill takes and gives back, the names of its scratch targets, and RPO
 * against each tier's schedule. Pure, safe for workflows.
 */
import type { ContentSummary } from './manifest';
import type { RestoreSource } from './contract';
import type { StoreName } from './stores';
import type { Tier } from './tiers';

export interface DrillWorkflowInput {
  /** `latest`, a set name or path; with `tier`, `latest` means the newest complete set of that tier. */
  reference: string;
  tier?: Tier;
  /** Stores to drill; every store the set holds when omitted. */
  components?: StoreName[];
  /** `user@host` of the CLI, or `schedule`. */
  requestedBy: string;
}

export type DrillOutcome = 'passed' | 'failed' | 'cancelled';

export interface DrillStoreReport {
  status: 'passed' | 'failed' | 'not reached';
  /** Where the scratch copy lived, e.g. `database scholaria_drill_20261129_201500`; never a credential. */
  target?: string;
  details: string[];
  error?: string;
}

export interface DrillCheckResult {
  query: string;
  passed: boolean;
  error?: string;
}

export interface DrillResult {
  set: string;
  tier: Tier;
  workflowId: string;
  startedAt: string;
  finishedAt: string;
  outcome: DrillOutcome;
  reason?: string;
  /** Seconds from the drill's start to every store restored and checked; absent when it did not get there. */
  rtoSeconds?: number;
  /** The set's age in seconds when the drill started. */
  rpoSeconds: number;
  /** What the tier's schedule promises: a set at most this old (seconds); absent for manual sets. */
  rpoTargetSeconds?: number;
  stores: Partial<Record<StoreName, DrillStoreReport>>;
  checks: DrillCheckResult[];
  /** Scratch targets that could not be removed (should be empty). */
  leftovers: string[];
  by: string;
}

/** Failure type of a drill that failed; its details carry the DrillResult. */
export const DRILL_FAILED = 'DrillFailed';

/** The file drills are recorded in, under LOG_DIR: one JSON line per drill. */
export const DRILLS_FILE = 'drills.jsonl';

export interface ScratchRestoreInput {
  store: StoreName;
  drillId: string;
  source: RestoreSource;
}

export interface ScratchRestoreResult {
  /** Where it went, for people. */
  target: string;
  /** What the scratch target holds, in the manifest's units. */
  summary: ContentSummary;
  /** What it must hold when that differs from the manifest for a reason the store knows (Qdrant counts recorded as a range). */
  expected?: ContentSummary;
  details: string[];
}

/** The activities a drill uses beside the repository's and the audit's. */
export interface DrillActivities {
  /** The set to drill: `reference` resolved, or the newest complete set of `tier`. */
  findDrillSet(input: { reference: string; tier?: Tier }): Promise<{ name: string }>;
  /** Restores one store of the set into its scratch target and counts what that target holds. */
  restoreIntoScratch(input: ScratchRestoreInput): Promise<ScratchRestoreResult>;
  /** Runs DRILL_CHECKS_SQL against the scratch database; each query must return true. */
  runDrillChecks(input: { drillId: string }): Promise<DrillCheckResult[]>;
  /** Removes one store's scratch target; idempotent, and a no-op when there is none. Returns what was removed. */
  removeScratch(input: { store: StoreName; drillId: string }): Promise<string[]>;
  /** Appends the result to LOG_DIR/drills.jsonl. */
  recordDrill(result: DrillResult): Promise<void>;
}

/** Scratch names of one drill: never a production name, recognisable for cleanup. */
export function scratchNames(drillId: string): { database: string; collectionPrefix: string } {
  return { database: `scholaria_drill_${drillId}`, collectionPrefix: `drill_${drillId}_` };
}

const HOUR = 3600;
/** A tier's promise: the newest set is at most one schedule period old. */
export const RPO_TARGET_SECONDS: Partial<Record<Tier, number>> = { daily: 24 * HOUR, weekly: 7 * 24 * HOUR, monthly: 31 * 24 * HOUR };

/** The weekly run of the drill schedule: the newest complete set of every tier, one drill each. */
export interface ScheduledDrillsInput {
  tiers: Tier[];
}

export type ScheduledDrillsResult = Partial<Record<Tier, { outcome: DrillOutcome | 'no set'; workflowId: string; reason?: string }>>;

export const DRILL_SCHEDULE_ID = 'scholaria-backup-drill';
