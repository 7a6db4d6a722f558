/**
 * Redis adapter. Backup: the RDB comes over the replication protocol, like `redis-cli --rdb`, so no
 * access to the server's disk is needed; its header and CRC64 are checked while it streams into
 * gzip. Verify: the stored file is decompressed, checked by `redis-check-rdb`, and loaded into a
 * private `redis-server` whose key counts become the set's content summary.
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createGunzip, createGzip } from 'node:zlib';
import { Redis } from 'ioredis';
import type { Config } from '../../core/config';
import { storeUrl } from '../../core/config';
import type { StoreAdapter, StoreBackupResult, StoreProbe, StoreVerifyInput, StoreVerifyResult } from '../../core/contract';
import type { PhaseTiming } from '../../core/manifest';
import { VerificationFailed } from '../../repository/errors';
import { HashingTap } from '../../repository/hashing';
import { fsyncPath, scratchDirectory, setDirectory } from '../../repository/sets';
import { runForOutput } from '../child-process';
import { withProgress, type ProgressReporter } from '../heartbeat';
import { connectOnce } from './client';
import { keyCountsPerDatabase, startLocalRedis } from './local-server';
import { RdbInspector } from './rdb';
import { streamRdbFromServer } from './replication';

export const REDIS_FILE_ROLE = 'rdb';

export function redisFileName(stamp: string): string {
  return `redis_${stamp}.rdb.gz`;
}

export function createRedisAdapter(config: Config): StoreAdapter {
  return {
    probe: () => probe(config),
    backup: ({ set }) =>
      withProgress((progress) => backup(config, setDirectory(config.backupDir, set.name, 'staging'), set.stamp, progress)),
    verify: (input) => withProgress((progress) => verify(config, input, progress)),
  };
}

/** Where a Redis URL points, without its credentials: safe for messages. */
export function describeRedisUrl(url: string): string {
  const parsed = new URL(url);
  return `${parsed.hostname}:${parsed.port || '6379'}`;
}

async function probe(config: Config): Promise<StoreProbe> {
  const url = storeUrl(config, 'redis');
  let client: Redis | undefined;
  try {
    client = await connectOnce(url);
    const info = await client.info('server');
    const version = /redis_version:(\S+)/.exec(info)?.[1] ?? 'unknown';
    return { serverVersion: version, details: [`Redis ${version} at ${describeRedisUrl(url)}`] };
  } catch (error) {
    throw new Error(`Redis at ${describeRedisUrl(url)} is unreachable: ${(error as Error).message}`);
  } finally {
    client?.disconnect();
  }
}

async function backup(config: Config, dir: string, stamp: string, progress: ProgressReporter): Promise<StoreBackupResult> {
  const url = storeUrl(config, 'redis');
  const name = redisFileName(stamp);
  const path = join(dir, name);
  await rm(path, { force: true });
  const started = Date.now();
  progress.phase('streaming RDB');
  const inspector = new RdbInspector();
  const tap = new HashingTap();
  const written = pipeline(inspector, createGzip({ level: 6 }), tap, createWriteStream(path));
  let transfer: string;
  try {
    ({ transfer } = await streamRdbFromServer({
      url,
      destination: inspector,
      signal: progress.signal,
      onProgress: (bytes) => progress.bytes(bytes),
    }));
    inspector.end();
    await written;
  } catch (error) {
    inspector.destroy(error as Error);
    await written.catch(() => undefined);
    await rm(path, { force: true });
    throw error;
  }
  const facts = inspector.result();
  await fsyncPath(path);
  const phases: PhaseTiming[] = [{ phase: 'streaming RDB', ms: Date.now() - started }];
  return {
    serverVersion: facts.redisVersion ?? 'unknown',
    files: [{ name, bytes: tap.bytes, sha256: tap.digest(), role: REDIS_FILE_ROLE }],
    notes: [`RDB version ${facts.rdbVersion}, ${facts.bytes} bytes before compression, ${transfer} transfer, CRC64 ${facts.checksum}`],
    phases,
  };
}

async function verify(config: Config, input: StoreVerifyInput, progress: ProgressReporter): Promise<StoreVerifyResult> {
  const file = input.files.find((entry) => entry.role === REDIS_FILE_ROLE);
  if (!file) throw new VerificationFailed('the set has no Redis RDB file');
  const source = join(setDirectory(config.backupDir, input.setName, input.location), file.name);
  const scratch = join(scratchDirectory(config.backupDir), `${input.setName}-redis-${process.pid}`);
  const rdbPath = join(scratch, 'dump.rdb');
  await rm(scratch, { recursive: true, force: true });
  await mkdir(scratch, { recursive: true });
  let serverDir: string | undefined;
  try {
    progress.phase('decompressing RDB');
    const inspector = new RdbInspector();
    try {
      await pipeline(createReadStream(source, { highWaterMark: 1 << 20 }), createGunzip(), inspector, createWriteStream(rdbPath));
    } catch (error) {
      throw new VerificationFailed(`${file.name}: cannot be decompressed to its end (${(error as Error).message})`);
    }
    let facts;
    try {
      facts = inspector.result();
    } catch (error) {
      throw new VerificationFailed(`${file.name}: ${(error as Error).message}`);
    }
    progress.phase('redis-check-rdb');
    await runForOutput('redis-check-rdb', [rdbPath]).catch((error: Error) => {
      throw new VerificationFailed(`${file.name}: redis-check-rdb rejects it (${error.message})`);
    });
    progress.phase('loading RDB');
    // The server's unix socket lives in a short temporary path: socket paths are limited to 107 bytes.
    serverDir = await mkdtemp(join(tmpdir(), 'scholaria-rdb-'));
    const server = await startLocalRedis({ dir: serverDir, rdbFile: rdbPath }).catch((error: Error) => {
      throw new VerificationFailed(`${file.name}: redis-server cannot load it (${error.message})`);
    });
    let counts: Record<string, number>;
    const client = new Redis({ path: server.socketPath!, lazyConnect: true });
    try {
      await client.connect();
      counts = await keyCountsPerDatabase(client);
    } finally {
      client.disconnect();
      await server.stop();
    }
    const keys = Object.values(counts).reduce((sum, count) => sum + count, 0);
    return {
      checks: [
        `${file.name}: RDB version ${facts.rdbVersion}, CRC64 ${facts.checksum}, redis-check-rdb passed`,
        `${file.name}: loaded by redis-server: ${keys} keys in ${Object.keys(counts).length} databases`,
      ],
      summary: { unit: 'keys', counts },
    };
  } finally {
    await rm(scratch, { recursive: true, force: true });
    if (serverDir) await rm(serverDir, { recursive: true, force: true });
  }
}
