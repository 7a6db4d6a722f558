/** `offsite sync`: the catch-up after an outage, copying every local complete set that is missing or incomplete offsite. */
import type { Config } from '../../core/config';
import type { OffsiteSyncResult } from '../../core/offsite';
import type { ProgressReporter } from '../heartbeat';
import { listSets } from '../repository/sets';
import { BandwidthLimit } from './bandwidth';
import { openBucket } from './client';
import { copyInto } from './copy';
import { listOffsiteSetsIn } from './sets';

/** Oldest first, so the sets that waited longest are safe first; one bandwidth budget for the whole sync. */
export async function syncOffsite(config: Config, progress: ProgressReporter, resumeFrom?: unknown): Promise<OffsiteSyncResult> {
  const bucket = openBucket(config);
  try {
    const offsite = new Map((await listOffsiteSetsIn(bucket)).map((set) => [set.name, set.status]));
    const local = (await listSets(config.backupDir)).filter((set) => set.manifest?.status === 'complete').reverse();
    const limit = new BandwidthLimit(bucket.config.bandwidthBytesPerSecond);
    const result: OffsiteSyncResult = { copied: [], present: [] };
    for (const set of local) {
      if (offsite.get(set.name) === 'complete') {
        result.present.push(set.name);
        continue;
      }
      result.copied.push(await copyInto(bucket, config.backupDir, set.name, { progress, resumeFrom, limit }));
    }
    return result;
  } finally {
    bucket.s3.destroy();
  }
}
