/**
 * The contract between workflows and activities: inputs and results only, no credentials, no I/O.
 * Workflows import this file; activities implement it.
 */
import type { AuditEntry } from './audit';
import type { ContentSummary, FileEntry, Manifest, PhaseTiming, SetStatus, StoreRecord } from './manifest';
import type { LockRequest } from './backup-lock';
import type { PruneReport } from './workflow-types';
import type { StoreName } from './stores';
import type { Tier } from './tiers';

export type { OffsiteActivities } from './offsite';

/** A set being written under `<BACKUP_DIR>/.partial/<name>/`. */
export interface StagedSet {
  name: string;
  stamp: string;
  tier: Tier;
}

/** Where a set's files are read from: its staging folder during a backup, BACKUP_DIR once sealed. */
export type SetLocation = 'staging' | 'sealed';

export interface StoreProbe {
  serverVersion: string;
  /** Facts worth showing, e.g. `pg_dump 15.19 can dump server 15`. */
  details: string[];
}

export interface StoreBackupInput {
  set: StagedSet;
}

export interface StoreBackupResult {
  serverVersion: string;
  files: FileEntry[];
  /** Content counts taken from the server at dump time, when the store can give them consistently with the dump. */
  summary?: ContentSummary;
  /**
   * What the backup verified of its files while writing them. When present (with `summary`), the files
   * need no separate read-back: every byte was parsed as it was written, and the seal re-hashes them from disk.
   */
  checks?: string[];
  notes: string[];
  phases: PhaseTiming[];
}

export interface StoreVerifyInput {
  setName: string;
  location: SetLocation;
  files: FileEntry[];
  tier: Tier;
  /**
   * `restore`: only the files a restore reads get the deep check; the others (PostgreSQL's plain SQL,
   * kept for people) were already matched against SHA256SUMS. Default `all`.
   */
  depth?: 'all' | 'restore';
}

export interface StoreVerifyResult {
  /** What was checked, one line each, e.g. `pg_restore read the whole archive`. */
  checks: string[];
  /** Content counts read back from the files themselves. */
  summary: ContentSummary;
}

/** What one store's restore works from: a sealed set's files for that store and what the manifest records of them. */
export interface RestoreSource {
  /** Names the restore's safety snapshots and scratch objects, e.g. `20261126_041406`. */
  restoreId: string;
  setName: string;
  files: FileEntry[];
  /** The content the set holds, from the manifest; the restored target must end up holding exactly this. */
  summary: ContentSummary;
  /** The server version that produced the files. */
  serverVersion: string;
  /**
   * Side by side (PostgreSQL only): restore into this new database on the same server and leave the
   * live database untouched; no swap.
   */
  asDatabase?: string;
}

export interface PreflightReport {
  /** Reasons the restore must not start (incompatible versions, too little space...); empty when it may. */
  problems: string[];
  /** What the target holds now. */
  current: ContentSummary;
  /** Versions, free space and other facts the plan rests on. */
  details: string[];
  /** What the restore would do, step by step. */
  plan: string[];
}

/** Where a store's state before the restore was kept; non-secret, adapter-specific references. */
export interface SafetySnapshot {
  description: string;
  references: Record<string, string>;
}

export interface StoreRestoreInput extends RestoreSource {
  safety: SafetySnapshot;
  /** Allowed to end the target's other sessions/connections when they block the restore. */
  force: boolean;
  /** `stage` did its part: the restore only commits it. */
  staged?: boolean;
}

export interface StagedRestore {
  /** False for a store with nothing to stage: its restore does all the work. */
  staged: boolean;
  details: string[];
}

export interface StoreRestoreResult {
  details: string[];
  /**
   * What the target must hold now, when that differs from the manifest's summary for a reason the
   * adapter knows (Redis keys that expired since the backup); the manifest's summary otherwise.
   */
  expected?: ContentSummary;
}

export interface RollbackInput {
  restoreId: string;
  safety: SafetySnapshot;
}

export interface ReleaseInput {
  restoreId: string;
  safety: SafetySnapshot;
  /** Keep the safety snapshot (e.g. the pre-restore database) instead of removing it. */
  keep: boolean;
}

/**
 * The verbs every store adapter has; each becomes an activity type such as `backupPostgres` or
 * `rollbackRedis`, so the Temporal UI history reads like the runbook.
 */
export interface StoreAdapter {
  probe(input: { tier: Tier }): Promise<StoreProbe>;
  backup(input: StoreBackupInput): Promise<StoreBackupResult>;
  /** Deep check of a set's files alone; no server needed. */
  verify(input: StoreVerifyInput): Promise<StoreVerifyResult>;
  /** Read-only: compatibility, space, what the target holds and what a restore would do. */
  preflight(input: RestoreSource): Promise<PreflightReport>;
  /** Captures the target's current state so `rollback` can bring it back. */
  safetySnapshot(input: RestoreSource): Promise<SafetySnapshot>;
  /**
   * The part of a restore that touches nothing live, so it may run while the deep checks of the set are
   * still going (PostgreSQL: the set restored into a fresh database beside the target, its rows
   * counted). `restore` with `staged` then commits it. A store with nothing to stage says so.
   */
  stage(input: StoreRestoreInput): Promise<StagedRestore>;
  /** Replaces the target's content with the set's; idempotent, so a retry starts over cleanly. */
  restore(input: StoreRestoreInput): Promise<StoreRestoreResult>;
  /** What the live target holds now, in the manifest's units. */
  summarize(input: { restoreId: string; asDatabase?: string }): Promise<ContentSummary>;
  /** Brings the target back to its safety snapshot; idempotent, safe to call whatever step failed. */
  rollback(input: RollbackInput): Promise<void>;
  /** After the whole restore succeeded: removes (or keeps) the safety snapshot. */
  release(input: ReleaseInput): Promise<void>;
}
export type StoreVerb = keyof StoreAdapter;

export type StoreActivityName<V extends StoreVerb = StoreVerb, S extends StoreName = StoreName> = `${V}${Capitalize<S>}`;
export type StoreActivities = {
  [K in StoreVerb as StoreActivityName<K>]: StoreAdapter[K];
};

export interface SealSetInput {
  set: StagedSet;
  stores: Partial<Record<StoreName, StoreRecord>>;
  startedAt: string;
  workflow: { id: string; runId: string };
}

export interface SealedSet {
  name: string;
  path: string;
  status: SetStatus;
  bytes: number;
  bytesPerStore: Partial<Record<StoreName, number>>;
}

export interface ResolvedSet {
  name: string;
  path: string;
  manifest: Manifest;
}

export interface ChecksumReport {
  filesChecked: number;
  bytesChecked: number;
}

export interface RepositoryActivities {
  prepareBackupSet(input: { tier: Tier; startedAt: string }): Promise<StagedSet>;
  sealBackupSet(input: SealSetInput): Promise<SealedSet>;
  discardStagedSet(input: { setName: string }): Promise<void>;
  resolveBackupSet(input: { reference: string }): Promise<ResolvedSet>;
  verifySetChecksums(input: { setName: string }): Promise<ChecksumReport>;
  /** Retention for one tier, after a complete backup of it: deletes what the policy gives up. */
  applyRetention(input: { tier: Tier }): Promise<RetentionOutcome>;
  /** Retention by hand (`prune`): every set's decision and, with `apply`, deletion of those the policy gives up. */
  pruneBackupSets(input: { tiers?: Tier[]; apply: boolean }): Promise<PruneReport>;
}

export interface RetentionOutcome {
  deleted: string[];
  /** Sets kept past their retention because no newer good set of their tier exists. */
  overdue: string[];
}

export interface BackupLockActivities {
  /**
   * Asks the backup lock of this task queue for the lock (`signalWithStart` on its workflow id), so
   * backups and prunes queue instead of running at once (when the 1st is a Sunday, three fire within
   * hours). The grant comes later, by signal.
   */
  requestBackupLock(request: LockRequest): Promise<void>;
}

/**
 * The activity that queued backups before the lock workflow: a poll of the visibility store. No
 * worker implements it any more; it stays typed for the replay of backups recorded before the
 * `backup-lock-workflow` patch (see workflows/backup.ts).
 */
export interface LegacyCoordinationActivities {
  waitForEarlierBackups(input: { workflowId: string; startedAt: string }): Promise<{ waitedFor: string[] }>;
}

export type { AuditEntry } from './audit';

export interface AuditActivities {
  /** Appends one entry to LOG_DIR/audit.jsonl (see core/audit.ts for who calls it and how). */
  recordAudit(entry: AuditEntry): Promise<void>;
}

/** What the worker finds in its BACKUP_DIR for the health workflow (activities/anomalies.ts). */
export interface BackupDirHealth {
  /** Whether BACKUP_DIR takes writes (the worker writes and removes a probe file), or why not. */
  writable: { ok: true } | { ok: false; reason: string };
  /** The light integrity check and the audit trail's anomalies, one line each (core/anomalies.ts). */
  anomalies: string[];
}

export interface HealthActivities {
  /** Reads sizes, mtimes, SHA256SUMS and the audit log, never the data; writes only the probe file. */
  inspectBackupDir(): Promise<BackupDirHealth>;
}

/** Whether an encrypted set opens on this worker; credentials and key material never leave it. */
export type SetDecryption =
  | { encrypted: false }
  | { encrypted: true; opened: true; checks: string[] }
  /** The worker has no BACKUP_ENCRYPTION_IDENTITY_FILE: `reason` says what could not be checked. */
  | { encrypted: true; opened: false; reason: string };

export interface EncryptionActivities {
  /** Refuses at once (EncryptionIdentityMissing, naming the variable) when the set is encrypted and the worker has no identity. */
  requireSetIdentity(input: { setName: string }): Promise<void>;
  /**
   * Decrypts every encrypted file of the set to its end (age authenticates every chunk): a wrong
   * identity or a changed ciphertext is refused (VerificationFailed), naming the file. Without an
   * identity: `opened: false` when `identityRequired` is false, else EncryptionIdentityMissing.
   */
  checkSetDecrypts(input: { setName: string; identityRequired: boolean }): Promise<SetDecryption>;
}

/** A message for people: every failure, and successes when BACKUP_NOTIFY_ON_SUCCESS is set. */
export interface Notification {
  kind: 'backup' | 'restore' | 'verify' | 'prune' | 'health-check' | 'drill';
  /** `anomaly`: the operation worked, but it is unusual enough for a person to look (core/anomalies.ts). */
  outcome: 'succeeded' | 'failed' | 'partial' | 'rolled back' | 'refused' | 'anomaly';
  /** One line, e.g. `daily backup scholaria_backup_20260301_020000 is partial: Redis failed`. */
  title: string;
  tier?: string;
  set?: string;
  /** The store that failed, when one did. */
  store?: string;
  reason?: string;
  workflowId?: string;
  /** The run in the Temporal Web UI, when TEMPORAL_UI_URL is known. */
  url?: string;
  /** Further lines: per store outcomes, checks, what to do. */
  details: string[];
}

export interface ChannelOutcome {
  channel: 'email' | 'webhook';
  delivered: boolean;
  error?: string;
}

export interface NotificationActivities {
  /** Sends to every configured channel; one failing channel never stops the others, nor fails the caller. */
  notify(notification: Notification): Promise<ChannelOutcome[]>;
}

/**
 * The worker that takes a run's local files: staging, dumps, seal, retention, the offsite copy and
 * download all run there (Temporal's worker-specific task queue pattern), since each worker has its
 * own BACKUP_DIR.
 */
export interface WorkerBinding {
  /** The task queue only this worker (and any worker on the same host with the same BACKUP_DIR) polls. */
  taskQueue: string;
  /** Whether this worker copies sets offsite (BACKUP_OFFSITE_URL is set); the bucket's URL, never credentials. */
  offsiteUrl?: string;
}

export interface WorkerBindingActivities {
  bindRunToWorker(): Promise<WorkerBinding>;
}

/** What a store activity reports in its heartbeats; the CLI shows it as live progress. */
export interface StoreProgress {
  phase: string;
  /** Bytes written (backup) or read (verify) so far in this phase. */
  bytes: number;
}

/** Failure types that must not be retried: retrying cannot change the outcome. */
export const NON_RETRYABLE_FAILURES = [
  'ConfigError',
  /** A store refused the worker's credentials (wrong password, missing grant or API key). */
  'AuthenticationFailed',
  'SetNotFound',
  'ChecksumMismatch',
  'VerificationFailed',
  'ReplicationRefused',
  'IncompatibleVersion',
  'BackupDirUnusable',
  'PreflightFailed',
  'TargetBusy',
  /** An encrypted set on a worker without BACKUP_ENCRYPTION_IDENTITY_FILE. */
  'EncryptionIdentityMissing',
] as const;
export type NonRetryableFailure = (typeof NON_RETRYABLE_FAILURES)[number];
