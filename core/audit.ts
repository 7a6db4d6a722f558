/**
 * The audit trail: one JSON line in LOG_DIR/audit.jsonl for every operation that reads or changes sets
 * or stores, with who asked, when, the workflow, and the outcome.
 *
 * How to record one (for drills, offsite copies and deletions, and any new operation):
 * - from a workflow: `await recordAudit({ event: 'drill', by: input.requestedBy ?? 'schedule', set, stores, outcome })`
 *   (workflows/audit.ts fills `at` and `workflowId`, and appends even while the run is cancelled);
 * - from an activity: `await appendAudit(config, entry)` (activities/audit.ts);
 * - from the CLI, which writes nothing itself: the `auditWorkflow` one-shot run (client/audit.ts).
 * `outcome` starts with `failed` when the operation failed: that is what anomaly detection counts.
 */
export const AUDIT_EVENTS = [
  'backup',
  'restore',
  'verify',
  'prune',
  /** Retention after a backup: the sets it deleted, in `deleted`, and why, in `reason`. */
  'retention',
  'drill',
  /** `schedules apply|pause|resume|trigger`: the verb in `action`, the tiers in `target`. */
  'schedule',
  /** A sealed set copied to the offsite bucket (`target`: the bucket, never its credentials). */
  'offsite-copy',
  /** Sets deleted from the offsite bucket, in `deleted`. */
  'offsite-delete',
] as const;
export type AuditEvent = (typeof AUDIT_EVENTS)[number];

/** One line of the audit log. */
export interface AuditEntry {
  event: AuditEvent;
  /** When the operation started, ISO 8601. */
  at: string;
  /** `user@host` of the CLI, or `schedule` for a scheduled run. */
  by: string;
  workflowId: string;
  /** The set written, read or restored; absent when there is none (a backup in which every store failed). */
  set?: string;
  /** The tier of that set, when known. */
  tier?: string;
  stores: string[];
  dryRun: boolean;
  /** `complete`, `restored`, `verified`, `pruned`, `dry run`, ...; starts with `failed` when it failed. */
  outcome: string;
  /** Why it failed, or why sets were deleted, one line. */
  reason?: string;
  /** Sets deleted (prune, retention, offsite-delete). */
  deleted?: string[];
  /** The verb of a `schedule` entry: apply, pause, resume, trigger. */
  action?: string;
  /** What a `schedule` or offsite entry acted on: tiers, the bucket. */
  target?: string;
  /** Why the operation is unusual, found when it was recorded (a restore from a set past its tier's retention). */
  anomaly?: string;
}

export const AUDIT_FILE = 'audit.jsonl';

/** Did the audited operation fail? */
export function isFailedOutcome(outcome: string): boolean {
  return outcome.startsWith('failed');
}

/** The entries of audit log text, skipping lines that are not entries (a line cut by a crash). */
export function parseAuditLines(text: string): AuditEntry[] {
  const entries: AuditEntry[] = [];
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    try {
      const entry = JSON.parse(line) as AuditEntry;
      if (typeof entry.event === 'string' && typeof entry.at === 'string') entries.push(entry);
    } catch {
      // a torn last line: every complete line before it still counts
    }
  }
  return entries;
}
