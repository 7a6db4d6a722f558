import { join } from 'node:path';
import { isEncryptedFile } from '../../core/compression';
import type { Config } from '../../core/config';
import type { StoreVerifyInput, StoreVerifyResult } from '../../core/contract';
import { totalOf } from '../../core/manifest';
import { VerificationFailed } from '../repository/errors';
import { setDirectory } from '../repository/sets';
import { identityFor } from '../encryption';
import type { ProgressReporter } from '../heartbeat';
import { keyCountsPerDatabase } from './local-server';
import { keysPerDatabase } from './rdb';
import { decodeDataFileTo } from '../data-file-streams';
import { checkStoredRdb, loadRdb } from './rdb-files';
import { withScratch } from './scratch';
import { rdbFileOf } from './set-files';

/**
 * The stored file is decrypted (age authenticates every chunk) and decompressed by the programs, and
 * checked as it streams by `redis-check-rdb`, which walks every key and compares the CRC-64; the keys
 * per database come from the RDB's RESIZEDB records and must add up to the keys it read. Only when they
 * do not is the file decoded once more and loaded into a private `redis-server` to count them. An
 * encrypted set on a worker without an identity is refused at once with EncryptionIdentityMissing: its
 * checksums are all that can be checked there.
 */
export async function verify(config: Config, input: StoreVerifyInput, progress: ProgressReporter): Promise<StoreVerifyResult> {
  const file = rdbFileOf(input.files);
  if (isEncryptedFile(file.name)) identityFor(config, file.name);
  const source = join(setDirectory(config.backupDir, input.setName, input.location), file.name);
  const refused = (error: Error) => {
    throw new VerificationFailed(`${file.name}: ${error.message}`);
  };
  progress.phase(isEncryptedFile(file.name) ? 'decrypting, decompressing and redis-check-rdb' : 'decompressing and redis-check-rdb');
  const checked = await checkStoredRdb(source, config, progress.signal).catch(refused);
  const earlierChecks = isEncryptedFile(file.name) ? [`${file.name}: decrypted with BACKUP_ENCRYPTION_IDENTITY_FILE, every age chunk authenticated`] : [];
  const read = `${file.name}: RDB version ${checked.facts.rdbVersion}, CRC64 ${checked.facts.checksum}, redis-check-rdb read every key`;
  const recorded = keysPerDatabase(checked.report, checked.inspector);
  if (recorded) {
    const keys = totalOf(recorded);
    return {
      checks: [...earlierChecks, read, `${file.name}: ${keys} keys in ${Object.keys(recorded).length} databases (the RDB's RESIZEDB records, equal to the keys redis-check-rdb read)`],
      summary: { unit: 'keys', counts: recorded },
    };
  }
  return withScratch(config, input.setName, async (dir) => {
    const rdbPath = join(dir, 'dump.rdb');
    progress.phase('decoding RDB to load it');
    await decodeDataFileTo(source, rdbPath, config, progress.signal).catch(refused);
    progress.phase('loading RDB');
    const loaded = await loadRdb(rdbPath).catch((error: Error) => {
      throw new VerificationFailed(`${file.name}: redis-server cannot load it (${error.message})`);
    });
    let counts: Record<string, number>;
    try {
      counts = await keyCountsPerDatabase(loaded.client);
    } finally {
      await loaded.close();
    }
    return {
      checks: [...earlierChecks, read, `${file.name}: loaded by redis-server: ${totalOf(counts)} keys in ${Object.keys(counts).length} databases`],
      summary: { unit: 'keys', counts },
    };
  });
}
