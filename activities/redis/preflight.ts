import { statfs } from 'node:fs/promises';
import { join } from 'node:path';
import type { Config } from '../../core/config';
import { storeUrl } from '../../core/config';
import type { PreflightReport, RestoreSource } from '../../core/contract';
import { totalOf } from '../../core/manifest';
import { setDirectory } from '../repository/sets';
import { runForOutput } from '../child-process';
import type { ProgressReporter } from '../heartbeat';
import { describeRedisUrl, serverVersion, withTarget } from './connection';
import { keyCountsPerDatabase } from './local-server';
import { maxRdbVersionFor } from './rdb';
import { rdbVersionOf } from './rdb-files';
import { rdbFileOf } from './set-files';

/** Read-only: can the target load the set's RDB version, is there room for its safety snapshot, and the plan. */
export async function preflight(config: Config, input: RestoreSource, progress: ProgressReporter): Promise<PreflightReport> {
  const file = rdbFileOf(input.files);
  const problems: string[] = [];
  const { targetVersion, current, usedMemory } = await withTarget(config, async (target) => ({
    targetVersion: await serverVersion(target),
    current: await keyCountsPerDatabase(target),
    usedMemory: Number(/used_memory:(\d+)/.exec(await target.info('memory'))?.[1] ?? 0),
  }));
  progress.phase('reading RDB header');
  const rdbVersion = await rdbVersionOf(join(setDirectory(config.backupDir, input.setName, 'sealed'), file.name), config);
  const localVersion = (await runForOutput('redis-server', ['--version'])).match(/v=(\S+)/)?.[1] ?? 'unknown';
  const targetMax = maxRdbVersionFor(targetVersion);
  if (targetMax !== undefined && targetMax < rdbVersion) problems.push(`the target (Redis ${targetVersion}) cannot load RDB version ${rdbVersion}`);
  // The copy loads the file into a local redis-server and sends its DUMP payloads, which an older target refuses.
  const copyProblems: string[] = [];
  const localMax = maxRdbVersionFor(localVersion);
  if (localMax !== undefined && localMax < rdbVersion) copyProblems.push(`the local redis-server (Redis ${localVersion}) cannot load RDB version ${rdbVersion}`);
  if (localMax !== undefined && targetMax !== undefined && targetMax < localMax) {
    copyProblems.push(`the target (Redis ${targetVersion}) is older than the local redis-server (${localVersion}); its DUMP payloads would be refused`);
  }
  const method = config.redisRestoreMethod;
  if (method === 'copy') problems.push(...copyProblems);
  const free = await freeBytes(config.backupDir);
  if (free < usedMemory) {
    problems.push(`BACKUP_DIR has ${free} bytes free; the safety snapshot of the target needs up to ${usedMemory}`);
  }
  const keysNow = totalOf(current);
  const keysInSet = totalOf(input.summary.counts);
  return {
    problems,
    current: { unit: 'keys', counts: current },
    details: [
      `target Redis ${targetVersion} at ${describeRedisUrl(storeUrl(config, 'redis'))}, ${keysNow} keys; set: RDB version ${rdbVersion} from Redis ${input.serverVersion}, ${keysInSet} keys`,
      `local redis-server ${localVersion}; BACKUP_DIR free: ${free} bytes; REDIS_RESTORE_METHOD=${method}`,
      ...(method === 'auto' ? copyProblems.map((problem) => `if the target refuses replication, the copy cannot be used: ${problem}`) : []),
    ],
    plan: [
      `take an RDB of the target as the safety snapshot (into BACKUP_DIR/.safety/${input.restoreId}/redis)`,
      ...(method === 'copy'
        ? [`load ${file.name} into a private redis-server`, `FLUSHALL the target, then copy every key with DUMP/RESTORE keeping TTLs (${keysInSet} keys)`]
        : [
            `make the target a replica of the worker (REPLICAOF), which sends it ${file.name}: it loads all ${keysInSet} keys, TTLs included, then REPLICAOF NO ONE`,
            ...(method === 'auto' ? ['where the target refuses replication: load the file into a private redis-server, FLUSHALL the target and copy every key with DUMP/RESTORE'] : []),
          ]),
      'compare key counts per database with the set (keys that expired since the backup stay gone)',
    ],
  };
}

async function freeBytes(path: string): Promise<number> {
  const stats = await statfs(path);
  return stats.bavail * stats.bsize;
}
