/**
 * The offsite repository's pure side: where a set's objects live in the bucket, the settings' syntax,
 * what a listing of the bucket says about a set, and the types of the offsite activities. No I/O, so
 * workflows and the CLI may import it.
 */
import { CHECKSUMS_FILE, MANIFEST_FILE, type Manifest } from './manifest';
import { planRetention, type RetentionCandidate, type RetentionDecision, type RetentionRules } from './retention';
import { isSetName } from './set-names';
import type { Tier } from './tiers';

/** `s3://bucket/prefix` -> bucket and prefix (no leading or trailing slash; '' for the root). */
export function parseOffsiteUrl(text: string): { bucket: string; prefix: string } {
  const match = /^s3:\/\/([^/]+)(?:\/(.*))?$/.exec(text.trim());
  if (!match) throw new RangeError('must be s3://bucket or s3://bucket/prefix');
  const bucket = match[1]!;
  // S3's bucket naming rules, which S3-compatible servers share.
  if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket)) throw new RangeError(`"${bucket}" is not a valid bucket name (3-63 lower-case letters, digits, dots, hyphens)`);
  const prefix = (match[2] ?? '').replace(/^\/+|\/+$/g, '');
  if (prefix.split('/').some((part) => part === '.' || part === '..')) throw new RangeError('the prefix must not contain . or .. components');
  if (/[\s\\]/.test(prefix)) throw new RangeError('the prefix must not contain spaces or backslashes');
  return { bucket, prefix };
}

const BANDWIDTH_UNITS: Record<string, number> = { '': 1, B: 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3 };

/** `20M` -> 20 MiB/s in bytes per second, as rclone's `--bwlimit` reads it (K, M, G are powers of 1024); a bare number is bytes per second. */
export function parseBandwidth(text: string): number {
  const match = /^(\d+(?:\.\d+)?)\s*([BKMG]?)(?:i?B)?(?:\/s)?$/i.exec(text.trim());
  if (!match) throw new RangeError('must be bytes per second, e.g. 20M (20 MiB/s), 512K or 1048576');
  const bytes = Math.floor(Number(match[1]) * BANDWIDTH_UNITS[match[2]!.toUpperCase()]!);
  if (bytes < 1024) throw new RangeError('must be at least 1K (1024 bytes per second)');
  return bytes;
}

/** The key of a set's folder in the bucket: `prefix/<set>/`. */
export function setKeyPrefix(prefix: string, setName: string): string {
  if (!isSetName(setName)) throw new RangeError(`"${setName}" is not a backup set name`);
  return `${prefix ? `${prefix}/` : ''}${setName}/`;
}

/** Where the record of a set's copies and checks is kept: beside the sets, never inside one (a set's folder is sealed). */
export function recordKey(prefix: string, setName: string): string {
  if (!isSetName(setName)) throw new RangeError(`"${setName}" is not a backup set name`);
  return `${prefix ? `${prefix}/` : ''}.records/${setName}.json`;
}

/** The files a set's folder holds, data first and the two that make it complete last: the upload order. */
export function uploadOrder(dataFiles: readonly string[]): string[] {
  return [...dataFiles, CHECKSUMS_FILE, MANIFEST_FILE];
}

/** What the bucket holds of one set, as a listing finds it. */
export interface OffsiteSet {
  name: string;
  /** complete: the manifest object exists, says complete, and every file it lists is there with its size. */
  status: 'complete' | 'partial' | 'incomplete';
  tier?: Tier;
  /** Bytes of every object under the set's folder. */
  bytes: number;
  objects: number;
  /** Why a set is not complete, in one line. */
  problem?: string;
  /** From the set's record, when there is one. */
  copiedAt?: string;
  checkedAt?: string;
}

/** The status of a set in the bucket from its objects' sizes and its manifest (if the manifest object exists and parses). */
export function offsiteStatusOf(
  manifest: Manifest | undefined,
  objectSizes: ReadonlyMap<string, number>,
  dataFiles: readonly { name: string; bytes: number }[],
): Pick<OffsiteSet, 'status' | 'problem'> {
  if (!manifest) return { status: 'incomplete', problem: `no ${MANIFEST_FILE}: the copy did not finish` };
  if (!objectSizes.has(CHECKSUMS_FILE)) return { status: 'incomplete', problem: `${CHECKSUMS_FILE} is missing` };
  for (const file of dataFiles) {
    const size = objectSizes.get(file.name);
    if (size === undefined) return { status: 'incomplete', problem: `${file.name} is missing` };
    if (size !== file.bytes) return { status: 'incomplete', problem: `${file.name} has ${size} bytes, ${file.bytes} recorded` };
  }
  return manifest.status === 'complete' ? { status: 'complete' } : { status: 'partial', problem: 'the set itself is partial' };
}

/**
 * Offsite retention: the local rule (core/retention.ts) applied to the bucket's sets. An incomplete
 * copy counts as an unreadable set (deleted once older than the daily retention, never the newer set);
 * `verified` is what the local prune reads from the manifest.
 */
export function planOffsiteRetention(
  sets: readonly (OffsiteSet & { verified: boolean })[],
  rules: RetentionRules,
  now: Date,
  options: { tiers?: readonly Tier[] } = {},
): RetentionDecision[] {
  const candidates: RetentionCandidate[] = sets.map((set) =>
    set.status === 'incomplete' || set.tier === undefined
      ? { name: set.name, status: 'unreadable', verified: false }
      : { name: set.name, tier: set.tier, status: set.status, verified: set.verified },
  );
  return planRetention(candidates, rules, now, options);
}

/** The heartbeat checkpoint of a copy: enough to resume its multipart upload after the worker died. */
export interface CopyCheckpoint {
  set: string;
  /** Files whose object is in the bucket and checked. */
  done: string[];
  /** The file being uploaded in parts, its upload id and the parts the server has. */
  /**
   * `check`: how the server checks the parts, by their SHA-256 (S3 checksums) or their Content-MD5; a
   * part's `md5` is set when the server's ETag proved it received the part as sent.
   */
  upload?: {
    file: string;
    uploadId: string;
    partSize: number;
    check?: 'sha256' | 'md5';
    parts: { number: number; etag: string; sha256?: string; md5?: string }[];
  };
}

export interface OffsiteCopyResult {
  set: string;
  url: string;
  objects: number;
  bytes: number;
  /** Bytes sent in this attempt; less than `bytes` when it resumed. */
  bytesSent: number;
  /** Parts or files a previous attempt had finished and this one kept. */
  resumed: { files: number; parts: number };
  /**
   * How the objects were checked: by the server's SHA-256 check, by the server's MD5 of what it
   * received (its ETag, against Content-MD5), by reading them back, or not all the same way.
   */
  checkedBy: 'server-sha256' | 'server-md5' | 'read-back' | 'mixed';
  seconds: number;
}

export interface OffsiteVerifyResult {
  set: string;
  objects: number;
  bytes: number;
  /** The stores' deep checks of the downloaded copy, one line each (runs since the deep checks). */
  checks?: string[];
  /** What could not be checked, and why. */
  notChecked?: string[];
}

/** An offsite set read back; `staged` when it was also written to its staging folder for the deep checks. */
export interface OffsiteReadBack extends Pick<OffsiteVerifyResult, 'set' | 'objects' | 'bytes'> {
  staged?: { manifest: Manifest };
}

export interface OffsiteSyncResult {
  copied: OffsiteCopyResult[];
  /** Local complete sets that were already complete offsite. */
  present: string[];
}

export interface OffsitePruneResult {
  decisions: RetentionDecision[];
  deleted: string[];
}

/** The offsite repository's activities; the coordinator merges this into core/contract.ts. */
export interface OffsiteActivities {
  copySetOffsite(input: { setName: string }): Promise<OffsiteCopyResult>;
  /** Aborts the multipart uploads of a set's copy that was given up. */
  abandonOffsiteCopy(input: { setName: string }): Promise<{ aborted: number }>;
  listOffsiteSets(): Promise<OffsiteSet[]>;
  verifyOffsiteSet(input: { setName: string; stageForDeepCheck?: boolean }): Promise<OffsiteReadBack>;
  /** `latest` or a set name: downloads the set, verified, into BACKUP_DIR; returns its name. */
  downloadOffsiteSet(input: { reference: string }): Promise<{ name: string; path: string; bytes: number }>;
  deleteOffsiteSet(input: { setName: string }): Promise<void>;
  syncOffsite(): Promise<OffsiteSyncResult>;
  applyOffsiteRetention(input: { tier?: Tier; apply: boolean }): Promise<OffsitePruneResult>;
}

/** Per tier: the newest complete offsite set, and how many local complete sets are newer than it (the copy's lag). */
export interface OffsiteTierState {
  tier: Tier;
  newestOffsite?: string;
  newestLocal?: string;
  /** Local complete sets of the tier newer than the newest complete offsite one. */
  behind: number;
}

/** More than one set behind in a tier is a problem: one may be on its way (the copy runs after the seal). */
export const OFFSITE_LAG_ALLOWED = 1;

export function offsiteLagByTier(local: readonly { name: string; tier: Tier }[], offsite: readonly OffsiteSet[], tiers: readonly Tier[]): OffsiteTierState[] {
  // Set names carry their UTC stamp, so their order is their time order.
  const newest = (names: string[]) => names.sort().at(-1);
  return tiers.map((tier) => {
    const newestOffsite = newest(offsite.filter((set) => set.status === 'complete' && set.tier === tier).map((set) => set.name));
    const localNames = local.filter((set) => set.tier === tier).map((set) => set.name);
    return { tier, newestOffsite, newestLocal: newest([...localNames]), behind: localNames.filter((name) => newestOffsite === undefined || name > newestOffsite).length };
  });
}
