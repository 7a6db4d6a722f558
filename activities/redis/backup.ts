import { join } from 'node:path';
import type { Config } from '../../core/config';
import { storeUrl } from '../../core/config';
import type { StagedSet, StoreBackupResult } from '../../core/contract';
import { totalOf } from '../../core/manifest';
import { encryptionChecks } from '../data-file-streams';
import { recipientsOf } from '../encryption';
import { VerificationFailed } from '../repository/errors';
import { setDirectory } from '../repository/sets';
import type { ProgressReporter } from '../heartbeat';
import { captureCheckedRdb, type CheckedRdb } from './rdb-files';
import { REDIS_FILE_ROLE, redisFileName } from './set-files';

/**
 * The RDB comes over the replication protocol, like `redis-cli --rdb`, so no access to the server's
 * disk is needed. Its header and CRC64 are checked on the plaintext as it streams into the compressor,
 * and `redis-check-rdb` walks every key of the same stream, so the set is proven loadable without
 * reading it back, and without the identity when it is encrypted. The keys per database come from
 * the RDB's own RESIZEDB records, cross-checked against the keys redis-check-rdb read. Only an RDB
 * whose records do not add up is left to the verify step (loading it into a private server), which
 * an encrypted set cannot have on a host without the identity: that backup fails instead.
 */
export async function backup(config: Config, set: StagedSet, progress: ProgressReporter): Promise<StoreBackupResult> {
  const encoding = { compression: config.compression, recipients: await recipientsOf(config) };
  const name = redisFileName(set.stamp, encoding);
  const path = join(setDirectory(config.backupDir, set.name, 'staging'), name);
  // The monotonic clock: a worker whose clock jumps back must not record a negative duration.
  const started = performance.now();
  progress.phase('streaming and checking RDB');
  const captured = await captureCheckedRdb(storeUrl(config, 'redis'), path, encoding, progress).catch((error: Error) => {
    throw error instanceof VerificationFailed ? new VerificationFailed(`${name}: ${error.message}`) : error;
  });
  const result = {
    serverVersion: captured.facts.redisVersion ?? 'unknown',
    files: [{ name, bytes: captured.bytes, sha256: captured.sha256, role: REDIS_FILE_ROLE }],
    notes: [`RDB version ${captured.facts.rdbVersion}, ${captured.facts.bytes} bytes before compression, ${captured.transfer} transfer, CRC64 ${captured.facts.checksum}`],
    phases: [{ phase: 'streaming and checking RDB', ms: Math.round(performance.now() - started) }],
  };
  const counts = captured.keysPerDatabase;
  if (counts) return { ...result, summary: { unit: 'keys', counts }, checks: checksOf(name, captured, counts, encoding.recipients) };
  if (encoding.recipients.length > 0) {
    throw new VerificationFailed(`${name}: the keys per database in the RDB's RESIZEDB records do not add up to the keys redis-check-rdb read`);
  }
  return result;
}

function checksOf(name: string, captured: CheckedRdb, counts: Record<string, number>, recipients: readonly string[]): string[] {
  return [
    ...encryptionChecks([name], { recipients }),
    `${name}: RDB version ${captured.facts.rdbVersion}, CRC64 ${captured.facts.checksum}, redis-check-rdb read every key while it was written`,
    `${name}: ${totalOf(counts)} keys in ${Object.keys(counts).length} databases (the RDB's RESIZEDB records, equal to the keys redis-check-rdb read)`,
  ];
}
