/**
 * What the workflows take and give back, their failure types, and their function types: the
 * client starts workflows by these types (client/workflows.ts) and imports no workflow module.
 */
import type { AuditEntry } from './audit';
import type { BackupDirHealth, Notification, PreflightReport, SealedSet } from './contract';
import type { BackupLockState } from './backup-lock';
import type { RetentionDecision } from './retention';
import type { Manifest } from './manifest';
import type { OffsitePruneResult, OffsiteSet, OffsiteSyncResult, OffsiteVerifyResult } from './offsite';
import type { StoreName } from './stores';
import type { Tier } from './tiers';
import type { DrillResult, DrillWorkflowInput, ScheduledDrillsInput, ScheduledDrillsResult } from './drills';

export interface BackupWorkflowInput {
  tier: Tier;
  components: StoreName[];
  /** Who asked, for the audit log: user and host of the CLI; a scheduled run has none. */
  requestedBy?: string;
}

export interface BackupStoreOutcome {
  status: 'ok' | 'failed';
  bytes?: number;
  error?: string;
  checks?: string[];
  notes?: string[];
}

export interface BackupWorkflowResult {
  set: SealedSet;
  stores: Partial<Record<StoreName, BackupStoreOutcome>>;
  /** What retention did after the backup, one line each. */
  retention?: string[];
  /** The copy to the bucket, when BACKUP_OFFSITE_URL is set on the worker that sealed the set. */
  offsite?: OffsiteCopyOutcome;
}

/** A failed copy leaves the run complete: the local set is complete, and `offsite sync` catches up. */
export interface OffsiteCopyOutcome {
  status: 'copied' | 'failed';
  url: string;
  objects?: number;
  bytes?: number;
  error?: string;
  /** What the offsite retention did after the copy, one line each. */
  retention?: string[];
}

/** Failure type of a run whose set was sealed as partial; its details carry the BackupWorkflowResult. */
export const PARTIAL_BACKUP = 'PartialBackup';

export interface RestoreWorkflowInput {
  /** `latest`, a set name, or a set path inside BACKUP_DIR. */
  reference: string;
  /** Stores to restore; every store the set holds when omitted. */
  components?: StoreName[];
  dryRun: boolean;
  /** End sessions that block the restore (PostgreSQL connections to the target database). */
  force: boolean;
  /** Keep the safety snapshots (e.g. the pre-restore database) after a successful restore. */
  keepSafety: boolean;
  /** Who asked, for the audit log: user and host of the CLI. */
  requestedBy: string;
  /** Restore PostgreSQL beside the live database, into this new database (`--as-database`). */
  asDatabase?: string;
  /**
   * `offsite`: download the set from the bucket first (kept if already in BACKUP_DIR). Without it,
   * `latest` still comes from the bucket when BACKUP_DIR holds no complete set.
   */
  from?: 'local' | 'offsite';
}

export type StoreRestoreStatus = 'planned' | 'restored' | 'failed' | 'rolled back' | 'rollback failed' | 'untouched';

export interface StoreRestoreReport {
  status: StoreRestoreStatus;
  plan: PreflightReport;
  details: string[];
  error?: string;
  rollbackError?: string;
}

export interface RestoreWorkflowResult {
  set: string;
  dryRun: boolean;
  checks: string[];
  stores: Partial<Record<StoreName, StoreRestoreReport>>;
}

/** Failure type of a restore that failed after changing something; its details carry the RestoreWorkflowResult. */
export const RESTORE_FAILED = 'RestoreFailed';
/** The query a restore answers with its per-store report, also once cancelled (a cancelled run carries no details). */
export const RESTORE_REPORT_QUERY = 'restoreReport';

export interface VerifyWorkflowInput {
  /** `latest`, a set name, or a set path inside BACKUP_DIR. */
  reference: string;
  /** With an encrypted set: fail when the worker cannot decrypt it, instead of checking checksums only (`verify --deep`). */
  deep?: boolean;
  /** Who asked, for the audit log: user and host of the CLI. */
  requestedBy?: string;
}

export interface VerifyWorkflowResult {
  name: string;
  status: Manifest['status'];
  filesChecked: number;
  bytesChecked: number;
  checks: string[];
  /** What could not be checked, e.g. the deep checks of an encrypted set on a worker without its identity. */
  notChecked?: string[];
}

export interface HealthWorkflowInput {
  components: StoreName[];
}

export type StoreHealth = { reachable: true; serverVersion: string; details: string[] } | { reachable: false; reason: string };

export interface HealthWorkflowResult {
  stores: Partial<Record<StoreName, StoreHealth>>;
  /** The worker's look at its BACKUP_DIR; absent in runs recorded before the health workflow made it. */
  backupDir?: BackupDirHealth;
}


export interface PruneWorkflowInput {
  /** Only these tiers; every tier when omitted. */
  tiers?: Tier[];
  /** Delete the sets the policy gives up; otherwise only say what would go. */
  apply: boolean;
  /** Who asked, for the audit log: user and host of the CLI. */
  requestedBy: string;
}

/** Every set's retention decision, and the sets deleted. */
export interface PruneReport {
  decisions: RetentionDecision[];
  deleted: string[];
}

/** The failure of a backup run in which no store could be backed up: no set is sealed. */
export const BACKUP_FAILED = 'BackupFailed';

export interface OffsiteSyncInput {
  /** Who asked: user and host of the CLI. */
  requestedBy: string;
}

export interface OffsitePruneInput {
  tier?: Tier;
  /** Delete the offsite sets the policy gives up; otherwise only say what would go. */
  apply: boolean;
  requestedBy: string;
}

/** The workflows by type name, as the worker registers them (workflows/index.ts is checked against this). */
export interface Workflows {
  backupWorkflow(input: BackupWorkflowInput): Promise<BackupWorkflowResult>;
  restoreWorkflow(input: RestoreWorkflowInput): Promise<RestoreWorkflowResult>;
  verifyWorkflow(input: VerifyWorkflowInput): Promise<VerifyWorkflowResult>;
  healthWorkflow(input: HealthWorkflowInput): Promise<HealthWorkflowResult>;
  pruneWorkflow(input: PruneWorkflowInput): Promise<PruneReport>;
  notifyWorkflow(notification: Notification): Promise<void>;
  auditWorkflow(entry: AuditEntry): Promise<void>;
  backupLockWorkflow(state?: BackupLockState): Promise<void>;
  drillWorkflow(input: DrillWorkflowInput): Promise<DrillResult>;
  scheduledDrillsWorkflow(input: ScheduledDrillsInput): Promise<ScheduledDrillsResult>;
  offsiteSyncWorkflow(input: OffsiteSyncInput): Promise<OffsiteSyncResult>;
  offsiteListWorkflow(): Promise<OffsiteSet[]>;
  offsiteVerifyWorkflow(input: { setName: string }): Promise<OffsiteVerifyResult>;
  offsitePruneWorkflow(input: OffsitePruneInput): Promise<OffsitePruneResult>;
}
