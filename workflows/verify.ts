import { ApplicationFailure, isCancellation, patched, setCurrentDetails } from '@temporalio/workflow';
import { summaryDifferences, type Manifest } from '../core/manifest';
import { STORE_LABELS, type StoreName } from '../core/stores';
import type { ResolvedSet, StoreVerifyInput } from '../core/contract';
import { IDENTITY_VARIABLE } from '../core/encryption-identity';
import type { VerifyWorkflowInput, VerifyWorkflowResult } from '../core/workflow-types';
import { encryption, repository, repository as sharedRepository, storeActivity as sharedStoreActivity, withSummary, type RunActivities } from './activity-proxies';
import { recordAudit } from './audit';
import { failureTypeOf, reasonOf } from './failure-reasons';
import { notify } from './notify';
import { recordRun } from './run-attributes';

/**
 * Re-checks a sealed set the way a restore would before touching anything: every checksum, then each
 * store's deep check, whose content counts must equal the manifest's. Stops at the first bad file.
 */
export async function verifyWorkflow(input: VerifyWorkflowInput): Promise<VerifyWorkflowResult> {
  let setName: string | undefined;
  let tier: string | undefined;
  let outcome = 'failed';
  let reason: string | undefined;
  try {
    const set = await withSummary(
      repository.resolveBackupSet,
      input.reference === 'latest' ? 'Find the newest complete set in BACKUP_DIR' : `Find ${input.reference} in BACKUP_DIR and read its manifest`,
    )({ reference: input.reference });
    setName = set.name;
    tier = set.manifest.tier;
    recordRun({ set: set.name, tier: set.manifest.tier });
    const verified = await verifySealedSet(set, undefined, 'all', input.deep ?? false);
    outcome = verified.notChecked ? 'verified checksums only' : 'verified';
    recordRun({ outcome: 'verified' });
    setCurrentDetails(`Verified: ${set.name}${verified.notChecked ? ' (checksums only: no identity on the worker)' : ''}`);
    return { name: set.name, status: set.manifest.status, ...verified };
  } catch (error) {
    reason = reasonOf(error);
    outcome = isCancellation(error) ? 'cancelled' : `failed: ${reason}`;
    recordRun({ outcome: isCancellation(error) ? 'cancelled' : 'failed' });
    setCurrentDetails(`${isCancellation(error) ? 'Cancelled' : 'Failed'}: ${reasonOf(error)}`);
    // A set that no longer matches what it was sealed with is an anomaly people must hear about.
    if (SET_CHANGED.includes(failureTypeOf(error) ?? '') && patched(AUDITED_VERIFY)) {
      await notify({ kind: 'verify', outcome: 'failed', title: `set ${setName ?? input.reference} changed after it was sealed`, set: setName, tier, reason, details: [] });
    }
    throw error;
  } finally {
    if (patched(AUDITED_VERIFY)) {
      await recordAudit({ event: 'verify', by: input.requestedBy ?? 'unknown', set: setName, tier, outcome, reason, action: input.deep ? 'deep' : undefined });
    }
  }
}

/** Failure types of a set whose bytes no longer match what it was sealed with. */
const SET_CHANGED = ['ChecksumMismatch'];

/** Verifications recorded before they were audited replay without the audit step. */
const AUDITED_VERIFY = 'audited-verify';
/** Runs recorded before encrypted sets were decrypted in the verification step replay without it. */
const ENCRYPTED_SET_CHECKS = 'encrypted-set-checks';

/**
 * Every checksum of the set; for an encrypted set, every file decrypted to its end with the worker's
 * identity; then the deep check of each of `stores` (default: every store the set holds), whose
 * content counts must equal the manifest's; with depth `restore`, of the files a restore reads.
 * Throws at the first problem. An encrypted set on a worker without identity fails when
 * `identityRequired`, else stops after the checksums and says what it could not check in `notChecked`.
 */
export async function verifySealedSet(
  set: ResolvedSet,
  stores?: readonly StoreName[],
  depth: StoreVerifyInput['depth'] = 'all',
  identityRequired = depth === 'restore',
  on: RunActivities = { repository: sharedRepository, storeActivity: sharedStoreActivity },
): Promise<{ filesChecked: number; bytesChecked: number; checks: string[]; notChecked?: string[] }> {
  const files = await checkSealedSetFiles(set, identityRequired, on);
  if (files.notChecked) return files;
  return { ...files, checks: [...files.checks, ...(await checkStoresDeeply(set, { stores, depth, location: 'sealed', storeActivity: on.storeActivity }))] };
}

/**
 * Every checksum of the set, and for an encrypted set every file decrypted to its end (see
 * verifySealedSet): what must pass before any store's own check or restore reads the files.
 */
export async function checkSealedSetFiles(
  set: ResolvedSet,
  identityRequired: boolean,
  { repository }: Pick<RunActivities, 'repository'> = { repository: sharedRepository },
): Promise<{ filesChecked: number; bytesChecked: number; checks: string[]; notChecked?: string[] }> {
  setCurrentDetails(`Checking the checksums of ${set.name}`);
  const report = await withSummary(repository.verifySetChecksums, `Check every file of ${set.name} against SHA256SUMS`)({ setName: set.name });
  const checks = [`${report.filesChecked} files match SHA256SUMS (${report.bytesChecked} bytes read)`];
  if (set.manifest.encryption && patched(ENCRYPTED_SET_CHECKS)) {
    setCurrentDetails(`Decrypting every encrypted file of ${set.name}`);
    const decryption = await withSummary(encryption.checkSetDecrypts, `Decrypt every encrypted file of ${set.name} with the worker's identity`)({
      setName: set.name,
      identityRequired,
    });
    if (decryption.encrypted && !decryption.opened) {
      return {
        ...report,
        checks,
        notChecked: [
          `the deep checks (decryption, pg_restore, RDB CRC, snapshot tars) need ${IDENTITY_VARIABLE} on the worker: ${decryption.reason}; run \`verify --deep\` where the identity is`,
        ],
      };
    }
    if (decryption.encrypted) checks.push(...decryption.checks);
  }
  return { ...report, checks };
}

/**
 * Each store's deep check of the set's files at `location` (default: every store the set holds),
 * side by side; their content counts must equal the manifest's. Returns what was checked.
 */
export async function checkStoresDeeply(
  set: Pick<ResolvedSet, 'name' | 'manifest'>,
  { stores, depth, location, storeActivity }: { stores?: readonly StoreName[]; depth: StoreVerifyInput['depth']; location: StoreVerifyInput['location'] } & Pick<RunActivities, 'storeActivity'>,
): Promise<string[]> {
  const toCheck = (Object.entries(set.manifest.stores) as [StoreName, Manifest['stores'][StoreName]][]).flatMap(([store, record]) =>
    record?.status === 'ok' && (!stores || stores.includes(store)) ? [{ store, record }] : [],
  );
  setCurrentDetails(`Deep check of ${toCheck.map(({ store }) => STORE_LABELS[store]).join(', ')} in ${set.name}`);
  // The stores' checks are independent reads of different files: they run side by side.
  const results = await Promise.all(
    toCheck.map(({ store, record }) =>
      storeActivity('verify', store, { summary: `Deep check of the ${STORE_LABELS[store]} files of ${set.name}` })({
        setName: set.name,
        location,
        files: record.files,
        tier: set.manifest.tier,
        depth,
      }),
    ),
  );
  const checks: string[] = [];
  toCheck.forEach(({ store, record }, index) => {
    const verified = results[index]!;
    const differences = summaryDifferences(record.summary, verified.summary);
    if (differences.length > 0) {
      throw ApplicationFailure.nonRetryable(
        `${STORE_LABELS[store]} files of ${set.name} do not hold what the manifest records: ${differences.slice(0, 3).join('; ')}`,
        'VerificationFailed',
      );
    }
    checks.push(...verified.checks);
  });
  return checks;
}
