/**
 * Reading an offsite set back: every object against the set's SHA256SUMS; the first bad object is
 * named. With `stageForDeepCheck`, the objects are also written to the set's staging folder
 * (`BACKUP_DIR/.partial/<set>/`) as they are read, for the stores' deep checks; the workflow removes it.
 */
import { mkdir, rm } from 'node:fs/promises';
import type { Config } from '../../core/config';
import { totalBytes } from '../../core/manifest';
import type { OffsiteReadBack } from '../../core/offsite';
import { setKeyPrefix } from '../../core/offsite';
import type { ProgressReporter } from '../heartbeat';
import { ensureWritableBackupDir, setDirectory } from '../repository/sets';
import { openBucket } from './client';
import { readSetInto } from './download';
import { readBack } from './objects';
import { recordCheck } from './record';
import { resolveOffsiteSet } from './sets';

export async function verifyOffsiteSet(config: Config, reference: string, progress: ProgressReporter, options: { stageForDeepCheck?: boolean } = {}): Promise<OffsiteReadBack> {
  const bucket = openBucket(config);
  try {
    const set = await resolveOffsiteSet(bucket, reference);
    progress.phase(`reading ${set.name} back from offsite`);
    if (options.stageForDeepCheck) {
      await ensureWritableBackupDir(config.backupDir);
      const staging = setDirectory(config.backupDir, set.name, 'staging');
      await rm(staging, { recursive: true, force: true });
      await mkdir(staging, { recursive: true });
      try {
        await readSetInto(bucket, set, staging, progress);
      } catch (error) {
        await rm(staging, { recursive: true, force: true });
        throw error;
      }
    } else {
      const folder = setKeyPrefix(bucket.prefix, set.name);
      let done = 0;
      for (const file of set.files) {
        await readBack(bucket, `${folder}${file.name}`, file, { onBytes: (bytes) => progress.bytes(done + bytes), signal: progress.signal });
        done += file.bytes;
      }
    }
    await recordCheck(bucket, set.name);
    const result = { set: set.name, objects: set.files.length + 2, bytes: totalBytes(set.files) };
    return options.stageForDeepCheck ? { ...result, staged: { manifest: set.manifest } } : result;
  } finally {
    bucket.s3.destroy();
  }
}
