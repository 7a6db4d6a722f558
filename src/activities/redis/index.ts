/**
 * Redis adapter. Backup: the RDB comes over the replication protocol, like `redis-cli --rdb`, so no
 * access to the server's disk is needed; its header and CRC64 are checked while it streams into
 * gzip. Verify: the stored file is decompressed, checked by `redis-check-rdb`, and loaded into a
 * private `redis-server` whose key counts become the set's content summary. Restore is online: the
 * RDB is loaded into a private server and copied key by key into the flushed target.
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
import { summaryDifferences, type ContentSummary, type FileEntry } from '../../core/manifest';
import { VerificationFailed } from '../../repository/errors';
import { safetyDirectory, scratchDirectory, setDirectory } from '../../repository/sets';
import { runForOutput } from '../child-process';
import { withProgress, type ProgressReporter } from '../heartbeat';
import { connectOnce } from './client';
import { replaceAllKeys } from './copy-keys';
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

  /** Loads a stored RDB into a private server and makes the target hold exactly its keys. */
  async function copyIntoTarget(gzPath: string, scratchName: string, progress: ProgressReporter): Promise<ContentSummary> {
    return withScratch(scratchName, async (dir) => {
      progress.phase('decompressing RDB');
      await expandRdb(gzPath, join(dir, 'dump.rdb'));
      progress.phase('loading RDB');
      const loaded = await loadRdb(join(dir, 'dump.rdb'));
      const target = await connectTarget();
      // On cancellation the target connection is dropped, which also drops a command Redis still holds back.
      const stop = () => target.disconnect();
      progress.signal.addEventListener('abort', stop, { once: true });
      try {
        progress.phase('copying keys');
        return { unit: 'keys', counts: await replaceAllKeys(loaded.client, target, progress) };
      } finally {
        progress.signal.removeEventListener('abort', stop);
        target.disconnect();
        await loaded.close();
      }
    });
  }

  async function connectTarget(): Promise<Redis> {
    try {
      return await connectOnce(url());
    } catch (error) {
      throw new Error(`Redis at ${describeRedisUrl(url())} is unreachable: ${(error as Error).message}`);
    }
  }

  async function serverVersion(client: Redis): Promise<string> {
    return /redis_version:(\S+)/.exec(await client.info('server'))?.[1] ?? 'unknown';
  }

  return {
    async probe(): Promise<StoreProbe> {
      const client = await connectTarget();
      try {
        const version = await serverVersion(client);
        return { serverVersion: version, details: [`Redis ${version} at ${describeRedisUrl(url())}`] };
      } finally {
        client.disconnect();
      }
    },

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
          const keys = Object.values(counts).reduce((sum, count) => sum + count, 0);
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
        const target = await connectTarget();
        let current: Record<string, number>;
        let targetVersion: string;
        let usedMemory: number;
        try {
          targetVersion = await serverVersion(target);
          current = await keyCountsPerDatabase(target);
          usedMemory = Number(/used_memory:(\d+)/.exec(await target.info('memory'))?.[1] ?? 0);
        } finally {
          target.disconnect();
        }
        progress.phase('reading RDB header');
        const rdbVersion = await rdbVersionOf(join(setDirectory(config.backupDir, input.setName, 'sealed'), file.name));
        const localVersion = (await runForOutput('redis-server', ['--version'])).match(/v=(\S+)/)?.[1] ?? 'unknown';
        for (const [who, version] of [
          ['the target', targetVersion],
          ['the local redis-server that loads the set', localVersion],
        ] as const) {
          const max = maxRdbVersionFor(version);
          if (max !== undefined && max < rdbVersion) problems.push(`${who} (Redis ${version}) cannot load RDB version ${rdbVersion}`);
        }
        const localMax = maxRdbVersionFor(localVersion);
        const targetMax = maxRdbVersionFor(targetVersion);
        if (localMax !== undefined && targetMax !== undefined && targetMax < localMax) {
          problems.push(`the target (Redis ${targetVersion}) is older than the local redis-server (${localVersion}); its DUMP payloads would be refused`);
        }
        const free = await freeBytes(config.backupDir);
        if (free < usedMemory) {
          problems.push(`BACKUP_DIR has ${free} bytes free; the safety snapshot of the target needs up to ${usedMemory}`);
        }
        const keysNow = Object.values(current).reduce((sum, count) => sum + count, 0);
        const keysInSet = Object.values(input.summary.counts).reduce((sum, count) => sum + count, 0);
        return {
          problems,
          current: { unit: 'keys', counts: current },
          details: [
            `target Redis ${targetVersion} at ${describeRedisUrl(url())}, ${keysNow} keys; set: RDB version ${rdbVersion} from Redis ${input.serverVersion}, ${keysInSet} keys`,
            `local redis-server ${localVersion}; BACKUP_DIR free: ${free} bytes`,
          ],
          plan: [
            `take an RDB of the target as the safety snapshot (into BACKUP_DIR/.safety/${input.restoreId}/redis)`,
            `load ${file.name} into a private redis-server`,
            `FLUSHALL the target, then copy every key with DUMP/RESTORE keeping TTLs (${keysInSet} keys; keys that expired since the backup stay gone)`,
            'compare key counts per database with what was loaded',
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
        const loaded = await copyIntoTarget(
          join(setDirectory(config.backupDir, input.setName, 'sealed'), file.name),
          `${input.setName}-restore`,
          progress,
        );
        const expired = Object.values(input.summary.counts).reduce((sum, count) => sum + count, 0) -
          Object.values(loaded.counts).reduce((sum, count) => sum + count, 0);
        return {
          details: [`${file.name} copied into the target${expired > 0 ? `; ${expired} keys had expired since the backup` : ''}`],
          expected: loaded,
        };
      }),

    summarize: () =>
      withProgress(async (): Promise<ContentSummary> => {
        const target = await connectTarget();
        try {
          return { unit: 'keys', counts: await keyCountsPerDatabase(target) };
        } finally {
          target.disconnect();
        }
      }),

    rollback: ({ restoreId, safety }) =>
      withProgress(async (progress) => {
        const file = safety.references.file;
        if (!file) throw new Error('the Redis safety snapshot has no file');
        const expected = await copyIntoTarget(file, `rollback-${restoreId}`, progress);
        const target = await connectTarget();
        try {
          const differences = summaryDifferences(expected, { unit: 'keys', counts: await keyCountsPerDatabase(target) });
          if (differences.length > 0) throw new Error(`after the rollback the target differs from its safety snapshot: ${differences.slice(0, 3).join('; ')}`);
        } finally {
          target.disconnect();
        }
      }),

    release: async ({ restoreId, keep }) => {
      if (!keep) await rm(safetyDirectory(config.backupDir, restoreId, 'redis'), { recursive: true, force: true });
    },
  };
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
