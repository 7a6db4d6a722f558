/**
 * The contract between workflows and activities: inputs and results only, no credentials, no I/O.
 * Workflows import this file; activities implement it.
 */
import type { ContentSummary, FileEntry, Manifest, PhaseTiming, SetStatus, StoreRecord } from './manifest';
import type { StoreName } from './stores';
import type { Tier } from './tiers';

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
  notes: string[];
  phases: PhaseTiming[];
}

export interface StoreVerifyInput {
  setName: string;
  location: SetLocation;
  files: FileEntry[];
  tier: Tier;
}

export interface StoreVerifyResult {
  /** What was checked, one line each, e.g. `pg_restore read the whole archive`. */
  checks: string[];
  /** Content counts read back from the files themselves. */
  summary: ContentSummary;
}

/** The verbs every store adapter has; each becomes an activity type such as `backupPostgres`. */
export interface StoreAdapter {
  probe(input: { tier: Tier }): Promise<StoreProbe>;
  backup(input: StoreBackupInput): Promise<StoreBackupResult>;
  verify(input: StoreVerifyInput): Promise<StoreVerifyResult>;
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
  'SetNotFound',
  'ChecksumMismatch',
  'VerificationFailed',
  'ReplicationRefused',
  'IncompatibleVersion',
  'BackupDirUnusable',
] as const;
export type NonRetryableFailure = (typeof NON_RETRYABLE_FAILURES)[number];
