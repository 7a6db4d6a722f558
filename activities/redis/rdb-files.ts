/** RDB files as the adapter moves them: captured from a server into a set's data file, expanded, and loaded into a private server. */
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Redis } from 'ioredis';
import type { Config } from '../../core/config';
import { spawnChecked } from '../child-process';
import { decodingStages, readDataFile, writeChildOutput, writeDataFile, type DataFileEncoding, type WrittenDataFile } from '../data-file-streams';
import { withNamedPipes } from '../named-pipes';
import { VerificationFailed } from '../repository/errors';
import { fileModes } from '../file-modes';
import { fsyncPath } from '../repository/sets';
import type { ProgressReporter } from '../heartbeat';
import { connectOnce } from './connection';
import { startLocalRedis, type LocalRedis } from './local-server';
import { keysPerDatabase, RdbError, RdbInspector, type RdbFacts } from './rdb';
import { streamRdbFromServer } from './replication';

export interface CapturedRdb {
  bytes: number;
  sha256: string;
  facts: RdbFacts;
  transfer: string;
}

export interface CheckedRdb extends CapturedRdb {
  /** What redis-check-rdb printed: it read every key. */
  checkReport: string;
  /** Keys per database, from the RDB's RESIZEDB records, adding up to the keys redis-check-rdb read; undefined when they do not. */
  keysPerDatabase: Record<string, number> | undefined;
}

/**
 * Takes the server's RDB over the replication protocol into `path` (compressed, then encrypted when
 * `encoding` has recipients), checking its header and CRC64 on the plaintext. A failure leaves no file behind.
 */
export async function captureRdb(url: string, path: string, encoding: DataFileEncoding, progress: ProgressReporter): Promise<CapturedRdb> {
  await rm(path, { force: true });
  const inspector = new RdbInspector();
  const written = writeDataFile([inspector], path, encoding, progress.signal);
  return { ...(await streamInto(url, path, inspector, written, progress)), facts: inspector.result() };
}

/**
 * captureRdb, and while the plaintext streams, `redis-check-rdb` reads it too (through a named pipe fed
 * by `tee`), walking every key: the file is proven loadable before the set is sealed, without
 * decompressing it again afterwards. A file redis-check-rdb rejects fails with VerificationFailed.
 */
export async function captureCheckedRdb(url: string, path: string, encoding: DataFileEncoding, progress: ProgressReporter): Promise<CheckedRdb> {
  await rm(path, { force: true });
  return withNamedPipes(['rdb'], async (fifos) => {
    const checker = spawnChecked('redis-check-rdb', [fifos.rdb], { signal: progress.signal });
    let report = '';
    checker.process.stdout?.setEncoding('utf8').on('data', (text: string) => (report += text));
    // tee -p: a checker that stops early (a bad RDB) must not stop the file; its exit code speaks for it.
    const split = spawnChecked('tee', ['-p', fifos.rdb], { stdin: 'pipe', signal: progress.signal });
    const inspector = new RdbInspector();
    const written = Promise.all([
      writeChildOutput(split.process.stdout as Readable, path, encoding, progress.signal),
      pipeline(inspector, split.process.stdin as Writable),
      split.done,
    ]).then(([file]) => file);
    const captured = await streamInto(url, path, inspector, written, progress);
    const facts = inspector.result();
    await checker.done.catch((error: Error) => {
      const said = report.trim().split('\n').slice(-3).join('; ');
      throw new VerificationFailed(`redis-check-rdb rejects the RDB (${error.message}${said ? `: ${said}` : ''})`);
    });
    return { ...captured, facts, checkReport: report, keysPerDatabase: keysPerDatabase(report, inspector) };
  });
}

/** Streams the server's RDB into `inspector`, whose consumers' work is `written`; fsyncs the file. */
async function streamInto(url: string, path: string, inspector: RdbInspector, written: Promise<WrittenDataFile>, progress: ProgressReporter): Promise<Omit<CapturedRdb, 'facts'>> {
  try {
    const { transfer } = await streamRdbFromServer({
      url,
      destination: inspector,
      signal: progress.signal,
      onProgress: (bytes) => progress.bytes(bytes),
    });
    inspector.end();
    const stored = await written;
    await fsyncPath(path);
    return { ...stored, transfer };
  } catch (error) {
    inspector.destroy(error as Error);
    await written.catch(() => undefined);
    throw error;
  }
}

/**
 * Decrypts and decompresses a stored `.rdb.gz`/`.rdb.zst` (`.age`) to `rdbPath`, checking header and
 * CRC64; throws RdbError on a bad RDB, age's reason on a file that does not decrypt.
 */
export async function expandRdb(storedPath: string, rdbPath: string, config: Pick<Config, 'encryption'>): Promise<RdbFacts> {
  return (await expandInspectedRdb(storedPath, rdbPath, config)).result();
}

/** expandRdb, returning the inspector that read it: its facts, and the RESIZEDB records it saw. */
export async function expandInspectedRdb(storedPath: string, rdbPath: string, config: Pick<Config, 'encryption'>): Promise<RdbInspector> {
  const inspector = new RdbInspector();
  await pipeline([
    createReadStream(storedPath, { highWaterMark: 1 << 20 }),
    ...decodingStages(basename(storedPath), config),
    inspector,
    createWriteStream(rdbPath, { mode: fileModes().file }),
  ]);
  return inspector;
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
