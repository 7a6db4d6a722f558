/**
 * Redis adapter. Backup: the RDB comes over the replication protocol, like `redis-cli --rdb`, so no
 * access to the server's disk is needed; its header and CRC64 are checked while it streams into
 * gzip. Verify: the stored file is decompressed, checked by `redis-check-rdb`, and loaded into a
 * private `redis-server` whose key counts become the set's content summary. Restore is online: the
 * target replicates from the worker, which serves it the RDB (`replicate-into-target.ts`); where
 * the target refuses that, the RDB is loaded into a private server and copied key by key into the
 * flushed target (`copy-keys.ts`).
 */
import { mkdir, rm, statfs } from 'node:fs/promises';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import { compressedName, type Compression } from '../../core/compression';
import type { Config } from '../../core/config';
import { storeUrl } from '../../core/config';
import type {
  PreflightReport,
  RestoreSource,
  SafetySnapshot,
  StoreAdapter,
  StoreBackupResult,
  StoreProbe,
  StoreRestoreResult,
  StoreVerifyInput,
  StoreVerifyResult,
} from '../../core/contract';
import { summaryDifferences, totalOf, type ContentSummary, type FileEntry } from '../../core/manifest';
import { VerificationFailed } from '../repository/errors';
import { safetyDirectory, scratchDirectory, setDirectory } from '../repository/sets';
import { runForOutput } from '../child-process';
import { decompressedFile } from '../compression-streams';
import { withProgress, type ProgressReporter } from '../heartbeat';
import { connectOnce } from './client';
import { replaceAllKeys } from './copy-keys';
import { ReplicationUnavailable, replicateIntoTarget } from './replicate-into-target';
import { keyCountsPerDatabase } from './local-server';
import { maxRdbVersionFor } from './rdb';
import { captureRdb, expandRdb, loadRdb, rdbVersionOf } from './rdb-files';

export const REDIS_FILE_ROLE = 'rdb';
/** `redis_<stamp>.rdb.gz` as the specification names it, or `.rdb.zst`. */
export function redisFileName(stamp: string, compression: Pick<Compression, 'algorithm'>): string {
  return compressedName(`redis_${stamp}.rdb`, compression);
}

/** Where a Redis URL points, without its credentials: safe for messages. */
export function describeRedisUrl(url: string): string {
  const parsed = new URL(url);
  return `${parsed.hostname}:${parsed.port || '6379'}`;
}

export function createRedisAdapter(config: Config): StoreAdapter {
  const url = () => storeUrl(config, 'redis');
  const scratchFor = (name: string) => join(scratchDirectory(config.backupDir), `${name}-redis-${process.pid}`);

  /** Runs `work` on a scratch folder that is always removed afterwards. */
  async function withScratch<T>(name: string, work: (dir: string) => Promise<T>): Promise<T> {
    const dir = scratchFor(name);
    await rm(dir, { recursive: true, force: true });
    await mkdir(dir, { recursive: true });
    try {
      return await work(dir);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }

  /**
   * Makes the target hold exactly the keys of a stored RDB: by replication where the target allows it
   * (REDIS_RESTORE_METHOD), else by copying every key from a private server that loaded the file.
   */
  async function loadIntoTarget(storedPath: string, restoreId: string, scratchName: string, progress: ProgressReporter): Promise<LoadedIntoTarget> {
    const method = config.redisRestoreMethod;
    let unavailable = '';
    if (method !== 'copy') {
      progress.phase('starting replication');
      const dir = safetyDirectory(config.backupDir, restoreId, 'redis');
      await mkdir(dir, { recursive: true });
      try {
        const replicated = await withTarget(
          (target) =>
            replicateIntoTarget(target, () => decompressedFile(storedPath, progress.signal), progress, {
              tls: url().startsWith('rediss:'),
              marker: join(dir, 'replicating-from.json'),
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
    return withScratch(scratchName, async (dir) => {
      progress.phase('decompressing RDB');
      await expandRdb(storedPath, join(dir, 'dump.rdb'));
      progress.phase('loading RDB');
      const loaded = await loadRdb(join(dir, 'dump.rdb'));
      try {
        progress.phase('copying keys');
        const counts = await withTarget((target) => replaceAllKeys(loaded.client, target, progress), progress.signal);
        return { counts, how: `copied key by key with DUMP/RESTORE${unavailable ? ` (replication unavailable: ${unavailable})` : ''}` };
      } finally {
        await loaded.close();
      }
    });
  }

  /**
   * Runs `work` on a connection to the target that is always closed afterwards. With `signal`, a
   * cancellation drops the connection at once, which also drops a command Redis still holds back.
   */
  async function withTarget<T>(work: (target: Redis) => Promise<T>, signal?: AbortSignal): Promise<T> {
    let target: Redis;
    try {
      target = await connectOnce(url());
    } catch (error) {
      throw new Error(`Redis at ${describeRedisUrl(url())} is unreachable: ${(error as Error).message}`);
    }
    const stop = () => target.disconnect();
    signal?.addEventListener('abort', stop, { once: true });
    try {
      return await work(target);
    } finally {
      signal?.removeEventListener('abort', stop);
      target.disconnect();
    }
  }

  async function serverVersion(client: Redis): Promise<string> {
    return /redis_version:(\S+)/.exec(await client.info('server'))?.[1] ?? 'unknown';
  }

  return {
    probe: () =>
      withTarget(async (target): Promise<StoreProbe> => {
        const version = await serverVersion(target);
        return { serverVersion: version, details: [`Redis ${version} at ${describeRedisUrl(url())}`] };
      }),

    backup: ({ set }) =>
      withProgress(async (progress): Promise<StoreBackupResult> => {
        const name = redisFileName(set.stamp, config.compression);
        const started = Date.now();
        progress.phase('streaming RDB');
        const captured = await captureRdb(url(), join(setDirectory(config.backupDir, set.name, 'staging'), name), config.compression, progress);
        return {
          serverVersion: captured.facts.redisVersion ?? 'unknown',
          files: [{ name, bytes: captured.bytes, sha256: captured.sha256, role: REDIS_FILE_ROLE }],
          notes: [
            `RDB version ${captured.facts.rdbVersion}, ${captured.facts.bytes} bytes before compression, ${captured.transfer} transfer, CRC64 ${captured.facts.checksum}`,
          ],
          phases: [{ phase: 'streaming RDB', ms: Date.now() - started }],
        };
      }),

    verify: (input: StoreVerifyInput) =>
      withProgress((progress): Promise<StoreVerifyResult> => {
        const file = rdbFileOf(input.files);
        const source = join(setDirectory(config.backupDir, input.setName, input.location), file.name);
        return withScratch(input.setName, async (dir) => {
          const rdbPath = join(dir, 'dump.rdb');
          progress.phase('decompressing RDB');
          const facts = await expandRdb(source, rdbPath).catch((error: Error) => {
            throw new VerificationFailed(`${file.name}: ${error.message}`);
          });
          progress.phase('redis-check-rdb');
          await runForOutput('redis-check-rdb', [rdbPath]).catch((error: Error) => {
            throw new VerificationFailed(`${file.name}: redis-check-rdb rejects it (${error.message})`);
          });
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
          const keys = totalOf(counts);
          return {
            checks: [
              `${file.name}: RDB version ${facts.rdbVersion}, CRC64 ${facts.checksum}, redis-check-rdb passed`,
              `${file.name}: loaded by redis-server: ${keys} keys in ${Object.keys(counts).length} databases`,
            ],
            summary: { unit: 'keys', counts },
          };
        });
      }),

    preflight: (input: RestoreSource) =>
      withProgress(async (progress): Promise<PreflightReport> => {
        const file = rdbFileOf(input.files);
        const problems: string[] = [];
        const { targetVersion, current, usedMemory } = await withTarget(async (target) => ({
          targetVersion: await serverVersion(target),
          current: await keyCountsPerDatabase(target),
          usedMemory: Number(/used_memory:(\d+)/.exec(await target.info('memory'))?.[1] ?? 0),
        }));
        progress.phase('reading RDB header');
        const rdbVersion = await rdbVersionOf(join(setDirectory(config.backupDir, input.setName, 'sealed'), file.name));
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
            `target Redis ${targetVersion} at ${describeRedisUrl(url())}, ${keysNow} keys; set: RDB version ${rdbVersion} from Redis ${input.serverVersion}, ${keysInSet} keys`,
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
      }),

    safetySnapshot: (input: RestoreSource) =>
      withProgress(async (progress): Promise<SafetySnapshot> => {
        const dir = safetyDirectory(config.backupDir, input.restoreId, 'redis');
        const file = join(dir, compressedName('redis-before-restore.rdb', config.compression));
        await mkdir(dir, { recursive: true });
        progress.phase('streaming RDB of the target');
        // A safety snapshot lives only until the restore is released: fast compression is worth more than a small file.
        const captured = await captureRdb(url(), file, { ...config.compression, level: 1 }, progress);
        return {
          description: `RDB of the target before the restore (${captured.facts.bytes} bytes) in ${dir}`,
          references: { file },
        };
      }),

    restore: (input) =>
      withProgress(async (progress): Promise<StoreRestoreResult> => {
        const file = rdbFileOf(input.files);
        const loaded = await loadIntoTarget(join(setDirectory(config.backupDir, input.setName, 'sealed'), file.name), input.restoreId, `${input.setName}-restore`, progress);
        if (loaded.loadedCounts) {
          const differences = summaryDifferences(input.summary, { unit: 'keys', counts: loaded.loadedCounts });
          if (differences.length > 0) throw new Error(`the target did not load every key of ${file.name}: ${differences.slice(0, 3).join('; ')}`);
        }
        const expired = totalOf(input.summary.counts) - totalOf(loaded.counts);
        return {
          details: [`${file.name} ${loaded.how}${expired > 0 ? `; ${expired} ${expired === 1 ? 'key' : 'keys'} had expired since the backup` : ''}`],
          expected: { unit: 'keys', counts: loaded.counts },
        };
      }),

    summarize: () =>
      withProgress(() => withTarget(async (target): Promise<ContentSummary> => ({ unit: 'keys', counts: await keyCountsPerDatabase(target) }))),

    rollback: ({ restoreId, safety }) =>
      withProgress(async (progress) => {
        const file = safety.references.file;
        if (!file) throw new Error('the Redis safety snapshot has no file');
        const loaded = await loadIntoTarget(file, restoreId, `rollback-${restoreId}`, progress);
        const now = await withTarget(keyCountsPerDatabase);
        const differences = summaryDifferences({ unit: 'keys', counts: loaded.counts }, { unit: 'keys', counts: now });
        if (differences.length > 0) throw new Error(`after the rollback the target differs from its safety snapshot: ${differences.slice(0, 3).join('; ')}`);
      }),

    release: async ({ restoreId, keep }) => {
      if (!keep) await rm(safetyDirectory(config.backupDir, restoreId, 'redis'), { recursive: true, force: true });
    },
  };
}

interface LoadedIntoTarget {
  /** Keys per database the target holds now, keys whose TTL had passed left out. */
  counts: Record<string, number>;
  /** With replication: what the target loaded before it dropped expired keys, which is every key of the file. */
  loadedCounts?: Record<string, number>;
  how: string;
}

function rdbFileOf(files: readonly FileEntry[]): FileEntry {
  const file = files.find((entry) => entry.role === REDIS_FILE_ROLE);
  if (!file) throw new VerificationFailed('the set has no Redis RDB file');
  return file;
}

async function freeBytes(path: string): Promise<number> {
  const stats = await statfs(path);
  return stats.bavail * stats.bsize;
}
