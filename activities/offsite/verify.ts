/** Reading an offsite set back: every object against the set's SHA256SUMS; the first bad object is named. */
import type { Config } from '../../core/config';
import { totalBytes } from '../../core/manifest';
import type { OffsiteVerifyResult } from '../../core/offsite';
import { setKeyPrefix } from '../../core/offsite';
import type { ProgressReporter } from '../heartbeat';
import { openBucket } from './client';
import { readBack } from './objects';
import { recordCheck } from './record';
import { resolveOffsiteSet } from './sets';

export async function verifyOffsiteSet(config: Config, reference: string, progress: ProgressReporter): Promise<OffsiteVerifyResult> {
  const bucket = openBucket(config);
  try {
    const set = await resolveOffsiteSet(bucket, reference);
    progress.phase(`reading ${set.name} back from offsite`);
    const folder = setKeyPrefix(bucket.prefix, set.name);
    let done = 0;
    for (const file of set.files) {
      await readBack(bucket, `${folder}${file.name}`, file, { onBytes: (bytes) => progress.bytes(done + bytes), signal: progress.signal });
      done += file.bytes;
    }
    await recordCheck(bucket, set.name);
    return { set: set.name, objects: set.files.length + 2, bytes: totalBytes(set.files) };
  } finally {
    bucket.s3.destroy();
  }
}
