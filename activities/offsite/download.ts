/**
 * Bringing an offsite set home, for a host whose BACKUP_DIR lacks it: every object is read back
 * against SHA256SUMS while it is written to `.partial/<set>/`; SHA256SUMS and the manifest are written
 * last, and the folder is renamed into BACKUP_DIR in one step, like a set sealed locally. A tampered
 * object stops the download before anything is in BACKUP_DIR.
 */
import { mkdir, open, rename, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Config } from '../../core/config';
import { CHECKSUMS_FILE, MANIFEST_FILE, totalBytes } from '../../core/manifest';
import { setKeyPrefix } from '../../core/offsite';
import type { ProgressReporter } from '../heartbeat';
import { SetNotFound } from '../repository/errors';
import { ensureWritableBackupDir, fsyncPath, listSets, setDirectory, writeDurably } from '../repository/sets';
import { openBucket, type OffsiteBucket } from './client';
import { readBack } from './objects';
import { resolveOffsiteSet, type OffsiteSetContent } from './sets';

export async function downloadOffsiteSet(
  config: Config,
  reference: string,
  progress: ProgressReporter,
): Promise<{ name: string; path: string; bytes: number }> {
  const bucket = openBucket(config);
  try {
    const set = await resolveOffsiteSet(bucket, reference);
    const sealed = setDirectory(config.backupDir, set.name, 'sealed');
    const local = (await listSets(config.backupDir)).find((listing) => listing.name === set.name);
    if (local) {
      if (local.manifest) return { name: set.name, path: sealed, bytes: totalBytes(set.files) };
      throw new SetNotFound(`${sealed} exists but has no readable manifest; move it away to download ${set.name} from ${bucket.url}`);
    }
    await ensureWritableBackupDir(config.backupDir);
    const staging = setDirectory(config.backupDir, set.name, 'staging');
    await rm(staging, { recursive: true, force: true });
    await mkdir(staging, { recursive: true });
    progress.phase(`downloading ${set.name} from offsite`);
    let done: number;
    try {
      done = await readSetInto(bucket, set, staging, progress);
      await writeDurably(join(staging, CHECKSUMS_FILE), set.checksums);
      // The manifest as the bucket holds it, byte for byte: it is the sealed record of the set.
      await writeDurably(join(staging, MANIFEST_FILE), set.manifestText);
      await fsyncPath(staging);
      await rename(staging, sealed);
      await fsyncPath(config.backupDir);
    } catch (error) {
      await rm(staging, { recursive: true, force: true });
      throw error;
    }
    return { name: set.name, path: sealed, bytes: done };
  } finally {
    bucket.s3.destroy();
  }
}

/** Reads every data file of an offsite set back against its checksum while writing it under `dir`; returns the bytes. */
export async function readSetInto(bucket: OffsiteBucket, set: Pick<OffsiteSetContent, 'name' | 'files'>, dir: string, progress: ProgressReporter): Promise<number> {
  const folder = setKeyPrefix(bucket.prefix, set.name);
  let done = 0;
  for (const file of set.files) {
    const path = join(dir, file.name);
    await mkdir(dirname(path), { recursive: true });
    const handle = await open(path, 'w');
    try {
      await readBack(bucket, `${folder}${file.name}`, file, {
        sink: async (chunk) => void (await handle.write(chunk)),
        onBytes: (bytes) => progress.bytes(done + bytes),
        signal: progress.signal,
      });
      await handle.sync();
    } finally {
      await handle.close();
    }
    done += file.bytes;
  }
  return done;
}
