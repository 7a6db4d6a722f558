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
import { keysPerDatabase, type RdbFacts, type RdbInspector } from './rdb';
import { expandInspectedRdb, loadRdb } from './rdb-files';
import { withScratch } from './scratch';
import { rdbFileOf } from './set-files';

/**
 * The stored file is decrypted (age authenticates every chunk), decompressed and checked by
 * `redis-check-rdb`, which walks every key; the keys per database come from the RDB's RESIZEDB
 * records and must add up to the keys it read. Only when they do not is the file loaded into a
 * private `redis-server` to count them. An encrypted set on a worker without an identity is refused
 * at once with EncryptionIdentityMissing: its checksums are all that can be checked there.
 */
export async function verify(config: Config, input: StoreVerifyInput, progress: ProgressReporter): Promise<StoreVerifyResult> {
  const file = rdbFileOf(input.files);
  if (isEncryptedFile(file.name)) identityFor(config, file.name);
  const source = join(setDirectory(config.backupDir, input.setName, input.location), file.name);
  return withScratch(config, input.setName, async (dir) => {
    const rdbPath = join(dir, 'dump.rdb');
    progress.phase(isEncryptedFile(file.name) ? 'decrypting and decompressing RDB' : 'decompressing RDB');
    const inspector = await expandInspectedRdb(source, rdbPath, config).catch((error: Error) => {
      throw new VerificationFailed(`${file.name}: ${error.message}`);
    });
    const facts = (() => {
      try {
        return inspector.result();
      } catch (error) {
        throw new VerificationFailed(`${file.name}: ${(error as Error).message}`);
      }
    })();
    const earlierChecks = isEncryptedFile(file.name) ? [`${file.name}: decrypted with BACKUP_ENCRYPTION_IDENTITY_FILE, every age chunk authenticated`] : [];
    return deepCheckRdb(file.name, rdbPath, facts, inspector, progress, earlierChecks);
  });
}

/** `redis-check-rdb` on a plaintext RDB of `fileName`, and its keys per database: the checks and the content summary. */
export async function deepCheckRdb(
  fileName: string,
  rdbPath: string,
  facts: RdbFacts,
  records: Pick<RdbInspector, 'resizeRecordAt'>,
  progress: ProgressReporter,
  earlierChecks: string[],
): Promise<StoreVerifyResult> {
  progress.phase('redis-check-rdb');
  const report = await runForOutput('redis-check-rdb', [rdbPath]).catch((error: Error) => {
    throw new VerificationFailed(`${fileName}: redis-check-rdb rejects it (${error.message})`);
  });
  const checked = `${fileName}: RDB version ${facts.rdbVersion}, CRC64 ${facts.checksum}, redis-check-rdb read every key`;
  const recorded = keysPerDatabase(report, records);
  if (recorded) {
    const keys = totalOf(recorded);
    return {
      checks: [...earlierChecks, checked, `${fileName}: ${keys} keys in ${Object.keys(recorded).length} databases (the RDB's RESIZEDB records, equal to the keys redis-check-rdb read)`],
      summary: { unit: 'keys', counts: recorded },
    };
  }
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
  return {
    checks: [...earlierChecks, checked, `${fileName}: loaded by redis-server: ${totalOf(counts)} keys in ${Object.keys(counts).length} databases`],
    summary: { unit: 'keys', counts },
  };
}
