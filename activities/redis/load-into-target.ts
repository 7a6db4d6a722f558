import { mkdir } from 'node:fs/promises';
import { basename, join } from 'node:path';
import type { Config } from '../../core/config';
import { storeUrl } from '../../core/config';
import { safetyDirectory } from '../repository/sets';
import { decodeDataFileTo, readDataFileChunks } from '../data-file-streams';
import { requireIdentityForFiles } from '../encryption';
import { fileModes } from '../file-modes';
import type { ProgressReporter } from '../heartbeat';
import { withTarget } from './connection';
import { replaceAllKeys } from './copy-keys';
import { ReplicationUnavailable, replicateIntoTarget } from './replicate-into-target';
import { REPLICATION_MARKER } from './replication-marker';
import { loadRdb } from './rdb-files';
import { withScratch } from './scratch';

export interface LoadedIntoTarget {
  /** Keys per database the target holds now, keys whose TTL had passed left out. */
  counts: Record<string, number>;
  /** With replication: what the target loaded before it dropped expired keys, which is every key of the file. */
  loadedCounts?: Record<string, number>;
  how: string;
}

/**
 * Makes the target hold exactly the keys of a stored RDB (a set's file, or a safety snapshot): by
 * replication where the target allows it (REDIS_RESTORE_METHOD), else by copying every key from a
 * private server that loaded the file.
 */
export async function loadIntoTarget(
  config: Config,
  storedPath: string,
  restoreId: string,
  scratchName: string,
  progress: ProgressReporter,
): Promise<LoadedIntoTarget> {
  requireIdentityForFiles(config, [basename(storedPath)]);
  const method = config.redisRestoreMethod;
  let unavailable = '';
  if (method !== 'copy') {
    progress.phase('starting replication');
    const dir = safetyDirectory(config.backupDir, restoreId, 'redis');
    await mkdir(dir, { recursive: true, mode: fileModes().directory });
    try {
      const replicated = await withTarget(
        config,
        (target) =>
          replicateIntoTarget(target, (onChunk) => readDataFileChunks(storedPath, config, onChunk, progress.signal), progress, {
            tls: storeUrl(config, 'redis').startsWith('rediss:'),
            marker: join(dir, REPLICATION_MARKER),
          }),
        progress.signal,
      );
      return {
        counts: replicated.counts,
        loadedCounts: replicated.loadedCounts,
        how: `loaded by the target through replication from the worker (${replicated.source})`,
      };
    } catch (error) {
      if (!(error instanceof ReplicationUnavailable) || method === 'replication') throw error;
      unavailable = error.message;
    }
  }
  return withScratch(config, scratchName, async (dir) => {
    progress.phase('decoding RDB');
    await decodeDataFileTo(storedPath, join(dir, 'dump.rdb'), config);
    progress.phase('loading RDB');
    const loaded = await loadRdb(join(dir, 'dump.rdb'));
    try {
      progress.phase('copying keys');
      const counts = await withTarget(config, (target) => replaceAllKeys(loaded.client, target, progress), progress.signal);
      return { counts, how: `copied key by key with DUMP/RESTORE${unavailable ? ` (replication unavailable: ${unavailable})` : ''}` };
    } finally {
      await loaded.close();
    }
  });
}
