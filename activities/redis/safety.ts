import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Config } from '../../core/config';
import { storeUrl } from '../../core/config';
import type { ReleaseInput, RestoreSource, RollbackInput, SafetySnapshot } from '../../core/contract';
import { summaryDifferences } from '../../core/manifest';
import { fastestCompression } from '../compression-streams';
import { dataFileName } from '../data-file-streams';
import { recipientsOf } from '../encryption';
import { fileModes } from '../file-modes';
import { safetyDirectory } from '../repository/sets';
import { removeSafetyFolderIfEmpty } from '../repository/safety-snapshots';
import type { ProgressReporter } from '../heartbeat';
import { withTarget } from './connection';
import { keyCountsPerDatabase } from './local-server';
import { loadIntoTarget } from './load-into-target';
import { captureCheckedRdb } from './rdb-files';

/**
 * An RDB of the target, taken over the replication protocol and checked by redis-check-rdb like a
 * backup, into the restore's safety folder; encrypted like a set when recipients are configured (the restoring worker holds the identity).
 */
export async function safetySnapshot(config: Config, input: RestoreSource, progress: ProgressReporter): Promise<SafetySnapshot> {
  const dir = safetyDirectory(config.backupDir, input.restoreId, 'redis');
  // A safety snapshot lives only until the restore is released: fast compression is worth more than a small file.
  const encoding = { compression: fastestCompression(config.compression), recipients: await recipientsOf(config) };
  const file = join(dir, dataFileName('redis-before-restore.rdb', encoding));
  await mkdir(dir, { recursive: true, mode: fileModes().directory });
  progress.phase('streaming RDB of the target');
  const captured = await captureCheckedRdb(storeUrl(config, 'redis'), file, encoding, progress);
  return {
    description: `RDB of the target before the restore (${captured.facts.bytes} bytes) in ${dir}`,
    references: { file },
  };
}

/** Loads the safety snapshot back into the target and checks that it holds exactly its keys again. */
export async function rollback(config: Config, { restoreId, safety }: RollbackInput, progress: ProgressReporter): Promise<void> {
  const file = safety.references.file;
  if (!file) throw new Error('the Redis safety snapshot has no file');
  const loaded = await loadIntoTarget(config, file, restoreId, `rollback-${restoreId}`, progress);
  const now = await withTarget(config, keyCountsPerDatabase);
  const differences = summaryDifferences({ unit: 'keys', counts: loaded.counts }, { unit: 'keys', counts: now });
  if (differences.length > 0) throw new Error(`after the rollback the target differs from its safety snapshot: ${differences.slice(0, 3).join('; ')}`);
}

export async function release(config: Config, { restoreId, keep }: ReleaseInput): Promise<void> {
  if (keep) return;
  await rm(safetyDirectory(config.backupDir, restoreId, 'redis'), { recursive: true, force: true });
  await removeSafetyFolderIfEmpty(config.backupDir, restoreId);
}
