import { join } from 'node:path';
import { isEncryptedFile } from '../../core/compression';
import type { Config } from '../../core/config';
import type { StoreVerifyInput, StoreVerifyResult } from '../../core/contract';
import { totalOf } from '../../core/manifest';
import { VerificationFailed } from '../repository/errors';
import { setDirectory } from '../repository/sets';
import { runForOutput } from '../child-process';
import { identityFor } from '../encryption';
import type { ProgressReporter } from '../heartbeat';
import { keyCountsPerDatabase } from './local-server';
import type { RdbFacts } from './rdb';
import { expandRdb, loadRdb } from './rdb-files';
import { withScratch } from './scratch';
import { rdbFileOf } from './set-files';

/**
 * The stored file is decrypted (age authenticates every chunk) and decompressed, checked by
 * `redis-check-rdb`, and loaded into a private `redis-server` whose key counts become the set's content
 * summary. An encrypted set on a worker without an identity is refused at once with
 * EncryptionIdentityMissing: its checksums are all that can be checked there.
 */
export async function verify(config: Config, input: StoreVerifyInput, progress: ProgressReporter): Promise<StoreVerifyResult> {
  const file = rdbFileOf(input.files);
  if (isEncryptedFile(file.name)) identityFor(config, file.name);
  const source = join(setDirectory(config.backupDir, input.setName, input.location), file.name);
  return withScratch(config, input.setName, async (dir) => {
    const rdbPath = join(dir, 'dump.rdb');
    progress.phase(isEncryptedFile(file.name) ? 'decrypting and decompressing RDB' : 'decompressing RDB');
    const facts = await expandRdb(source, rdbPath, config).catch((error: Error) => {
      throw new VerificationFailed(`${file.name}: ${error.message}`);
    });
    return deepCheckRdb(file.name, rdbPath, facts, progress, isEncryptedFile(file.name) ? [`${file.name}: decrypted with BACKUP_ENCRYPTION_IDENTITY_FILE, every age chunk authenticated`] : []);
  });
}

/** `redis-check-rdb` and a private `redis-server` on a plaintext RDB of `fileName`: the checks and the key counts. */
export async function deepCheckRdb(
  fileName: string,
  rdbPath: string,
  facts: RdbFacts,
  progress: ProgressReporter,
  earlierChecks: string[],
): Promise<StoreVerifyResult> {
  progress.phase('redis-check-rdb');
  await runForOutput('redis-check-rdb', [rdbPath]).catch((error: Error) => {
    throw new VerificationFailed(`${fileName}: redis-check-rdb rejects it (${error.message})`);
  });
  progress.phase('loading RDB');
  const loaded = await loadRdb(rdbPath).catch((error: Error) => {
    throw new VerificationFailed(`${fileName}: redis-server cannot load it (${error.message})`);
  });
  let counts: Record<string, number>;
  try {
    counts = await keyCountsPerDatabase(loaded.client);
  } finally {
    await loaded.close();
  }
  const keys = totalOf(counts);
  return {
    checks: [
      ...earlierChecks,
      `${fileName}: RDB version ${facts.rdbVersion}, CRC64 ${facts.checksum}, redis-check-rdb passed`,
      `${fileName}: loaded by redis-server: ${keys} keys in ${Object.keys(counts).length} databases`,
    ],
    summary: { unit: 'keys', counts },
  };
}
