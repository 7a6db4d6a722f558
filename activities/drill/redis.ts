/**
 * Redis drills: the set's RDB is loaded into a private `redis-server` this worker starts for the
 * drill (the same loader the restore's copy uses), its keys counted per database, and the server
 * stopped before the activity ends, whatever happens. With DRILL_REDIS_URL, the keys are loaded into
 * that server instead (flushed first, and flushed again when the drill is over).
 */
import { join } from 'node:path';
import type { Config } from '../../core/config';
import type { RestoreSource } from '../../core/contract';
import type { ScratchRestoreResult } from '../../core/drills';
import { setDirectory } from '../repository/sets';
import type { ProgressReporter } from '../heartbeat';
import { withTarget } from '../redis/connection';
import { loadIntoTarget } from '../redis/load-into-target';
import { keyCountsPerDatabase } from '../redis/local-server';
import { decodeDataFileTo } from '../data-file-streams';
import { loadRdb } from '../redis/rdb-files';
import { withScratch } from '../redis/scratch';
import { rdbFileOf } from '../redis/set-files';
import { drillConfig } from './targets';

export async function restoreRedisScratch(config: Config, drillId: string, source: RestoreSource, progress: ProgressReporter): Promise<ScratchRestoreResult> {
  const file = rdbFileOf(source.files);
  const storedPath = join(setDirectory(config.backupDir, source.setName, 'sealed'), file.name);
  if (config.drill.storeUrls.redis) {
    const loaded = await loadIntoTarget({ ...drillConfig(config, 'redis'), redisRestoreMethod: 'copy' }, storedPath, `drill-${drillId}`, `drill-${drillId}`, progress);
    return { target: 'the Redis server of DRILL_REDIS_URL', summary: { unit: 'keys', counts: loaded.counts }, details: [`${file.name} ${loaded.how}`] };
  }
  return withScratch(config, `drill-${drillId}`, async (dir) => {
    progress.phase('decoding RDB');
    await decodeDataFileTo(storedPath, join(dir, 'dump.rdb'), config);
    progress.phase('loading RDB into a private redis-server');
    const loaded = await loadRdb(join(dir, 'dump.rdb'));
    try {
      progress.phase('counting keys');
      const counts = await keyCountsPerDatabase(loaded.client);
      return {
        target: `a private redis-server (pid ${loaded.server.pid}), stopped after the count`,
        summary: { unit: 'keys', counts },
        details: [`${file.name} loaded by a private redis-server`],
      };
    } finally {
      await loaded.close();
    }
  });
}

/** The private server never outlives its activity; a drill server (DRILL_REDIS_URL) is flushed. */
export async function removeRedisScratch(config: Config): Promise<string[]> {
  if (!config.drill.storeUrls.redis) return [];
  await withTarget(drillConfig(config, 'redis'), (target) => target.flushall());
  return ['every key of the DRILL_REDIS_URL server'];
}
