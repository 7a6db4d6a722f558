import { join } from 'node:path';
import type { Config } from '../../core/config';
import { storeUrl } from '../../core/config';
import type { StagedSet, StoreBackupResult } from '../../core/contract';
import { recipientsOf } from '../encryption';
import { setDirectory } from '../repository/sets';
import type { ProgressReporter } from '../heartbeat';
import { captureRdb } from './rdb-files';
import { REDIS_FILE_ROLE, redisFileName } from './set-files';

/**
 * The RDB comes over the replication protocol, like `redis-cli --rdb`, so no access to the server's
 * disk is needed; its header and CRC64 are checked on the plaintext as it streams into the
 * compressor (and the encryptor, when recipients are configured).
 */
export async function backup(config: Config, set: StagedSet, progress: ProgressReporter): Promise<StoreBackupResult> {
  const encoding = { compression: config.compression, recipients: await recipientsOf(config) };
  const name = redisFileName(set.stamp, encoding);
  const started = Date.now();
  progress.phase('streaming RDB');
  const captured = await captureRdb(storeUrl(config, 'redis'), join(setDirectory(config.backupDir, set.name, 'staging'), name), encoding, progress);
  return {
    serverVersion: captured.facts.redisVersion ?? 'unknown',
    files: [{ name, bytes: captured.bytes, sha256: captured.sha256, role: REDIS_FILE_ROLE }],
    notes: [
      `RDB version ${captured.facts.rdbVersion}, ${captured.facts.bytes} bytes before compression, ${captured.transfer} transfer, CRC64 ${captured.facts.checksum}`,
    ],
    phases: [{ phase: 'streaming RDB', ms: Date.now() - started }],
  };
}
