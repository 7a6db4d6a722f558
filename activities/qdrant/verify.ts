/**
 * verify: the set's Qdrant archive decrypted (when encrypted), decompressed and read to its end, every
 * snapshot inside walked as a tar and hashed. An encrypted set on a worker without an identity is refused
 * at once with EncryptionIdentityMissing.
 */
import { join } from 'node:path';
import { isEncryptedFile } from '../../core/compression';
import type { Config } from '../../core/config';
import type { StoreVerifyInput, StoreVerifyResult } from '../../core/contract';
import { VerificationFailed } from '../repository/errors';
import { setDirectory } from '../repository/sets';
import type { ProgressReporter } from '../heartbeat';
import { IDENTITY_VARIABLE } from '../encryption';
import { archiveFileOf, asVerificationFailed, readArchive, snapshotChecks } from './archive';
import { INDEX_FILE, summaryOfIndex } from './collections-index';

export async function verify(config: Config, input: StoreVerifyInput, progress: ProgressReporter): Promise<StoreVerifyResult> {
  const file = archiveFileOf(input.files);
  const path = join(setDirectory(config.backupDir, input.setName, input.location), file.name);
  progress.phase('reading the Qdrant archive');
  let contents;
  try {
    contents = await readArchive(path, config, { signal: progress.signal, onBytes: (bytes) => progress.bytes(bytes) });
  } catch (error) {
    throw asVerificationFailed(file.name, error);
  }
  const { index, snapshots, archive } = contents;
  if (archive.bytes !== file.bytes || archive.sha256 !== file.sha256) {
    throw new VerificationFailed(`${file.name}: ${archive.bytes} bytes with sha256 ${archive.sha256}, the manifest records ${file.bytes} bytes with ${file.sha256}`);
  }
  const decrypted = isEncryptedFile(file.name) ? `decrypted with ${IDENTITY_VARIABLE}, every age chunk authenticated, ` : '';
  return {
    checks: [`${file.name}: ${decrypted}decompressed and read to the end as a tar; ${INDEX_FILE} lists ${index.collections.length} collections`, ...snapshotChecks(file.name, index, snapshots)],
    summary: summaryOfIndex(index),
  };
}
