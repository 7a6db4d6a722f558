import { ApplicationFailure, isCancellation, setCurrentDetails } from '@temporalio/workflow';
import { summaryDifferences, type Manifest } from '../core/manifest';
import { STORE_LABELS, type StoreName } from '../core/stores';
import type { ResolvedSet, StoreVerifyInput } from '../core/contract';
import type { VerifyWorkflowInput, VerifyWorkflowResult } from '../core/workflow-types';
import { repository, repository as sharedRepository, storeActivity as sharedStoreActivity, withSummary, type RunActivities } from './activity-proxies';
import { reasonOf } from './failure-reasons';
import { recordRun } from './run-attributes';

/**
 * Re-checks a sealed set the way a restore would before touching anything: every checksum, then each
 * store's deep check, whose content counts must equal the manifest's. Stops at the first bad file.
 */
export async function verifyWorkflow(input: VerifyWorkflowInput): Promise<VerifyWorkflowResult> {
  try {
    const set = await withSummary(
      repository.resolveBackupSet,
      input.reference === 'latest' ? 'Find the newest complete set in BACKUP_DIR' : `Find ${input.reference} in BACKUP_DIR and read its manifest`,
    )({ reference: input.reference });
    recordRun({ set: set.name, tier: set.manifest.tier });
    const verified = await verifySealedSet(set);
    recordRun({ outcome: 'verified' });
    setCurrentDetails(`Verified: ${set.name}`);
    return { name: set.name, status: set.manifest.status, ...verified };
  } catch (error) {
    recordRun({ outcome: isCancellation(error) ? 'cancelled' : 'failed' });
    setCurrentDetails(`${isCancellation(error) ? 'Cancelled' : 'Failed'}: ${reasonOf(error)}`);
    throw error;
  }
}

/**
 * Every checksum of the set, then the deep check of each of `stores` (default: every store the set
 * holds), whose content counts must equal the manifest's; with depth `restore`, of the files a restore
 * reads. Throws at the first problem.
 */
export async function verifySealedSet(
  set: ResolvedSet,
  stores?: readonly StoreName[],
  depth: StoreVerifyInput['depth'] = 'all',
  { repository, storeActivity }: RunActivities = { repository: sharedRepository, storeActivity: sharedStoreActivity },
): Promise<{ filesChecked: number; bytesChecked: number; checks: string[] }> {
  setCurrentDetails(`Checking the checksums of ${set.name}`);
  const report = await withSummary(repository.verifySetChecksums, `Check every file of ${set.name} against SHA256SUMS`)({ setName: set.name });
  const checks = [`${report.filesChecked} files match SHA256SUMS (${report.bytesChecked} bytes read)`];
  const toCheck = (Object.entries(set.manifest.stores) as [StoreName, Manifest['stores'][StoreName]][]).flatMap(([store, record]) =>
    record?.status === 'ok' && (!stores || stores.includes(store)) ? [{ store, record }] : [],
  );
  setCurrentDetails(`Deep check of ${toCheck.map(({ store }) => STORE_LABELS[store]).join(', ')} in ${set.name}`);
  // The stores' checks are independent reads of different files: they run side by side.
  const results = await Promise.all(
    toCheck.map(({ store, record }) =>
      storeActivity('verify', store, { summary: `Deep check of the ${STORE_LABELS[store]} files of ${set.name}` })({
        setName: set.name,
        location: 'sealed',
        files: record.files,
        tier: set.manifest.tier,
        depth,
      }),
    ),
  );
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
  return { ...report, checks };
}
