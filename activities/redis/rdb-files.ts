/** RDB files as the adapter moves them: captured from a server into a set's data file, expanded, and loaded into a private server. */
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Redis } from 'ioredis';
import type { Config } from '../../core/config';
import { decodingStages, readDataFile, writeDataFile, type DataFileEncoding } from '../data-file-streams';
import { fileModes } from '../file-modes';
import { fsyncPath } from '../repository/sets';
import type { ProgressReporter } from '../heartbeat';
import { connectOnce } from './connection';
import { startLocalRedis, type LocalRedis } from './local-server';
import { RdbError, RdbInspector, type RdbFacts } from './rdb';
import { streamRdbFromServer } from './replication';

export interface CapturedRdb {
  bytes: number;
  sha256: string;
  facts: RdbFacts;
  transfer: string;
}

/**
 * Takes the server's RDB over the replication protocol into `path` (compressed, then encrypted when
 * `encoding` has recipients), checking its header and CRC64 on the plaintext. A failure leaves no file behind.
 */
export async function captureRdb(
  url: string,
  path: string,
  encoding: DataFileEncoding,
  progress: ProgressReporter,
  options: { plaintextCopy?: string } = {},
): Promise<CapturedRdb> {
  await rm(path, { force: true });
  const inspector = new RdbInspector();
  const taps = options.plaintextCopy ? [copyTo(options.plaintextCopy)] : [];
  const written = writeDataFile([inspector, ...taps], path, encoding, progress.signal);
  try {
    const { transfer } = await streamRdbFromServer({
      url,
      destination: inspector,
      signal: progress.signal,
      onProgress: (bytes) => progress.bytes(bytes),
    });
    inspector.end();
    const stored = await written;
    const facts = inspector.result();
    await fsyncPath(path);
    return { ...stored, facts, transfer };
  } catch (error) {
    inspector.destroy(error as Error);
    await written.catch(() => undefined);
    throw error;
  }
}

/** A pass-through that also writes what flows through it to `path` (owner-only), waiting for the file as it waits for the pipeline. */
function copyTo(path: string): Transform {
  const file = createWriteStream(path, { mode: fileModes().file });
  return new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      if (file.write(chunk)) callback(null, chunk);
      else file.once('drain', () => callback(null, chunk));
    },
    flush(callback) {
      file.end(() => callback());
    },
    destroy(error, callback) {
      file.destroy();
      callback(error);
    },
  });
}

/**
 * Decrypts and decompresses a stored `.rdb.gz`/`.rdb.zst` (`.age`) to `rdbPath`, checking header and
 * CRC64; throws RdbError on a bad RDB, age's reason on a file that does not decrypt.
 */
export async function expandRdb(storedPath: string, rdbPath: string, config: Pick<Config, 'encryption'>): Promise<RdbFacts> {
  const inspector = new RdbInspector();
  await pipeline([
    createReadStream(storedPath, { highWaterMark: 1 << 20 }),
    ...decodingStages(basename(storedPath), config),
    inspector,
    createWriteStream(rdbPath, { mode: fileModes().file }),
  ]);
  return inspector.result();
}

/** The RDB version of a stored file, from its first bytes (`REDIS0010`): no need to decode it all. */
export async function rdbVersionOf(storedPath: string, config: Pick<Config, 'encryption'>): Promise<number> {
  const decoded = readDataFile(storedPath, config);
  try {
    let head = Buffer.alloc(0);
    for await (const chunk of decoded) {
      head = Buffer.concat([head, chunk as Buffer]);
      if (head.length >= 9) break;
    }
    const match = /^REDIS(\d{4})$/.exec(head.subarray(0, 9).toString('latin1'));
    if (!match) throw new RdbError(`${storedPath}: not an RDB file (no REDIS header)`);
    return Number(match[1]);
  } finally {
    decoded.destroy();
  }
}

export interface LoadedRdb {
  server: LocalRedis;
  client: Redis;
  close(): Promise<void>;
}

/**
 * Loads an RDB into a private `redis-server` on a unix socket. The socket lives in a short temporary
 * path because socket paths are limited to 107 bytes. The server runs as a replica of a master that
 * does not exist: a master drops keys whose TTL has passed while loading, a replica keeps them, so
 * the key counts are those of the file, however long ago it was written. Reads still hide such keys.
 */
export async function loadRdb(rdbPath: string): Promise<LoadedRdb> {
  const dir = await mkdtemp(join(tmpdir(), 'scholaria-rdb-'));
  let server: LocalRedis | undefined;
  try {
    server = await startLocalRedis({ dir, rdbFile: rdbPath, extraArgs: ['--replicaof', '127.0.0.1', '1'] });
    const client = await connectOnce(server.url);
    const started = server;
    return {
      server: started,
      client,
      close: async () => {
        client.disconnect();
        await started.stop();
        await rm(dir, { recursive: true, force: true });
      },
    };
  } catch (error) {
    await server?.stop();
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
}
