/**
 * The backup's offsite step, after the seal and the local retention, on the worker that sealed the
 * set: copy it to the bucket, then apply the tier's offsite retention. An offsite failure never makes
 * the local set less good: the copy's last attempt failing abandons its multipart uploads, the result
 * and a notification say the copy failed, and the run still completes (`offsite sync`, or the next
 * backup's health check, catches up).
 */
import { CancellationScope, isCancellation } from '@temporalio/workflow';
import type { SealedSet } from '../core/contract';
import type { Tier } from '../core/tiers';
import type { OffsiteCopyOutcome } from '../core/workflow-types';
import { withSummary, type onWorker } from './activity-proxies';
import { reasonOf } from './failure-reasons';
import { notify } from './notify';

type Offsite = ReturnType<typeof onWorker>['offsite'];

export async function copyOffsite(set: SealedSet, tier: Tier, url: string, offsite: Offsite): Promise<OffsiteCopyOutcome> {
  try {
    const copied = await withSummary(offsite.copySetOffsite, `Copy ${set.name} to ${url}: data files first, SHA256SUMS and the manifest last`)({ setName: set.name });
    return { status: 'copied', url: copied.url, objects: copied.objects, bytes: copied.bytes, retention: await offsiteRetention(tier, offsite) };
  } catch (error) {
    if (isCancellation(error)) throw error;
    const reason = reasonOf(error);
    try {
      await CancellationScope.nonCancellable(() =>
        withSummary(offsite.abandonOffsiteCopy, `Abort the unfinished uploads of ${set.name} in ${url}`)({ setName: set.name }),
      );
    } catch {
      // The next copy of the set aborts them too (activities/offsite/copy.ts); the copy's failure is the one to report.
    }
    await notify({
      kind: 'backup',
      outcome: 'failed',
      title: `the offsite copy of ${tier} backup ${set.name} failed; the local set is complete`,
      tier,
      set: set.name,
      reason,
      details: [`copy to ${url} failed: ${reason}`, 'run `scholaria-backup offsite sync` once the bucket is back'],
    });
    return { status: 'failed', url, error: reason };
  }
}

/** The tier's offsite retention, after a successful copy; a problem is reported, never fails the backup. */
async function offsiteRetention(tier: Tier, offsite: Offsite): Promise<string[]> {
  try {
    const { deleted } = await withSummary(offsite.applyOffsiteRetention, `Apply the ${tier} retention policy to the offsite sets`)({ tier, apply: true });
    return deleted.map((name) => `offsite retention deleted ${name}`);
  } catch (error) {
    return [`offsite retention failed: ${reasonOf(error)}`];
  }
}

