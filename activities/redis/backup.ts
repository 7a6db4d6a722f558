import { join } from 'node:path';
import type { Config } from '../../core/config';
import { storeUrl } from '../../core/config';
import type { StagedSet, StoreBackupResult } from '../../core/contract';
import { encryptionChecks } from '../data-file-streams';
import { recipientsOf } from '../encryption';
import { setDirectory } from '../repository/sets';
import type { ProgressReporter } from '../heartbeat';
import { captureRdb, type CapturedRdb } from './rdb-files';
import { withScratch } from './scratch';
import { deepCheckRdb } from './verify';
import { REDIS_FILE_ROLE, redisFileName } from './set-files';

/**
 * The RDB comes over the replication protocol, like `redis-cli --rdb`, so no access to the server's
 * disk is needed; its header and CRC64 are checked on the plaintext as it streams into the
 * compressor. When the set is encrypted, the backup host holds no identity to read the file back:
 * the plaintext is also copied into a scratch file that `redis-check-rdb` and a private
 * `redis-server` check and count before it is removed, so the backup proves its content itself.
 */
export async function backup(config: Config, set: StagedSet, progress: ProgressReporter): Promise<StoreBackupResult> {
  const encoding = { compression: config.compression, recipients: await recipientsOf(config) };
  const name = redisFileName(set.stamp, encoding);
  const path = join(setDirectory(config.backupDir, set.name, 'staging'), name);
  const url = storeUrl(config, 'redis');
  const started = Date.now();
  progress.phase('streaming RDB');
  if (encoding.recipients.length === 0) {
    const captured = await captureRdb(url, path, encoding, progress);
    return { ...resultOf(name, captured), phases: [{ phase: 'streaming RDB', ms: Date.now() - started }] };
  }
  return withScratch(config, set.name, async (dir) => {
    const plaintext = join(dir, 'dump.rdb');
    const captured = await captureRdb(url, path, encoding, progress, { plaintextCopy: plaintext });
    const streamed = Date.now();
    const checked = await deepCheckRdb(name, plaintext, captured.facts, progress, encryptionChecks([name], encoding));
    return {
      ...resultOf(name, captured),
      ...checked,
      phases: [
        { phase: 'streaming RDB', ms: streamed - started },
        { phase: 'checking the plaintext RDB', ms: Date.now() - streamed },
      ],
    };
  });
}

function resultOf(name: string, captured: CapturedRdb): Omit<StoreBackupResult, 'phases'> {
  return {
    serverVersion: captured.facts.redisVersion ?? 'unknown',
    files: [{ name, bytes: captured.bytes, sha256: captured.sha256, role: REDIS_FILE_ROLE }],
    notes: [
      `RDB version ${captured.facts.rdbVersion}, ${captured.facts.bytes} bytes before compression, ${captured.transfer} transfer, CRC64 ${captured.facts.checksum}`,
    ],
  };
}
