/** RDB files as the adapter moves them: captured from a server into a set's data file, expanded, and loaded into a private server. */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import type { Redis } from 'ioredis';
import type { Config } from '../../core/config';
import { settleTogether, spawnChecked } from '../child-process';
import { decodeDataFileToBoth, readDataFile, writeChildOutput, type DataFileEncoding, type WrittenDataFile } from '../data-file-streams';
import { readNamedPipe, withNamedPipes } from '../named-pipes';
import { VerificationFailed } from '../repository/errors';
import { fsyncPath } from '../repository/sets';
import { chunkWriter, type ChunkWriter } from '../file-chunks';
import type { ProgressReporter } from '../heartbeat';
import { connectOnce } from './connection';
import { startLocalRedis, type LocalRedis } from './local-server';
import { keysPerDatabase, RdbError, RdbInspector, type RdbFacts } from './rdb';
import { streamRdbFromServer } from './replication';

export interface CheckedRdb {
  bytes: number;
  sha256: string;
  facts: RdbFacts;
  transfer: string;
  /** What redis-check-rdb printed: it read every key. */
  checkReport: string;
  /** Keys per database, from the RDB's RESIZEDB records, adding up to the keys redis-check-rdb read; undefined when they do not. */
  keysPerDatabase: Record<string, number> | undefined;
}

/**
 * Takes the server's RDB over the replication protocol into `path` (compressed, then encrypted when
 * `encoding` has recipients), and while the plaintext streams, `redis-check-rdb` reads it too (through
 * a named pipe fed by `tee`), walking every key and comparing the CRC-64: the file is proven loadable
 * without decompressing it again afterwards. Header, version and end are checked on the same stream.
 * A file redis-check-rdb rejects fails with VerificationFailed; a failure leaves no file behind.
 */
export async function captureCheckedRdb(url: string, path: string, encoding: DataFileEncoding, progress: ProgressReporter): Promise<CheckedRdb> {
  await rm(path, { force: true });
  return withNamedPipes(['rdb'], async (fifos) => {
    const checked = checkRdb(fifos.rdb, progress.signal);
    // tee -p: a checker that stops early (a bad RDB) must not stop the file; its exit code speaks for it.
    const split = spawnChecked('tee', ['-p', fifos.rdb], { stdin: 'pipe', signal: progress.signal });
    const inspector = new RdbInspector('left to redis-check-rdb');
    const written = Promise.all([writeChildOutput(split.process.stdout as Readable, path, encoding, progress.signal), split.done]).then(([file]) => file);
    const captured = await streamInto(url, path, inspector, chunkWriter(split.process.stdin as Writable), written, progress);
    try {
      const report = await checked;
      const facts = inspector.resultCheckedBy(report);
      return { ...captured, facts, checkReport: report, keysPerDatabase: keysPerDatabase(report, inspector) };
    } catch (error) {
      await rm(path, { force: true });
      throw error;
    }
  });
}

/** `redis-check-rdb` reading `path`: its report once it accepted the RDB; VerificationFailed with its reason otherwise. */
function checkRdb(path: string, signal: AbortSignal): Promise<string> {
  const checker = spawnChecked('redis-check-rdb', [path], { signal });
  let report = '';
  checker.process.stdout?.setEncoding('utf8').on('data', (text: string) => (report += text));
  const checked = checker.done.then(
    () => report,
    (error: Error) => {
      throw new VerificationFailed(`redis-check-rdb rejects the RDB (${checkerVerdict(error, report)})`);
    },
  );
  // Awaited once the stream is through; a failure before that must not count as unhandled.
  checked.catch(() => undefined);
  return checked;
}

/** Why redis-check-rdb refused a file: the lines of its report under RDB ERROR DETECTED, else its last lines. */
function checkerVerdict(error: Error, report: string): string {
  const lines = report.trim().split('\n');
  const detected = lines.findIndex((line) => line.includes('RDB ERROR DETECTED'));
  const said = detected >= 0 ? lines.slice(detected + 1).filter((line) => !line.startsWith('[info]')) : lines.slice(-3);
  return `${error.message}${said.length > 0 ? `: ${said.join('; ')}` : ''}`;
}

/** Streams the server's RDB through `inspector` into `split` (tee's stdin), whose consumers' work is `written`; fsyncs the file. */
async function streamInto(
  url: string,
  path: string,
  inspector: RdbInspector,
  split: ChunkWriter,
  written: Promise<WrittenDataFile>,
  progress: ProgressReporter,
): Promise<Omit<CheckedRdb, 'facts' | 'checkReport' | 'keysPerDatabase'>> {
  try {
    const { transfer } = await streamRdbFromServer({
      url,
      receive: (chunk) => {
        inspector.inspect(chunk);
        return split.write(chunk);
      },
      signal: progress.signal,
      onProgress: (bytes) => progress.bytes(bytes),
    });
    inspector.finish();
    await split.end();
    const stored = await written;
    await fsyncPath(path);
    return { ...stored, transfer };
  } catch (error) {
    await split.end().catch(() => undefined);
    await written.catch(() => undefined);
    throw error;
  }
}

/**
 * A stored RDB (a set's file) checked as the programs decode it, with no plaintext copy on disk:
 * `redis-check-rdb` walks every key and compares the CRC-64, reading a named pipe fed by `tee`, while
 * the header, version, end and the RESIZEDB records that give the keys per database are read here from
 * tee's other output. A file that does not decode fails with the decoder's reason; one redis-check-rdb
 * or the header check rejects fails with VerificationFailed.
 */
export async function checkStoredRdb(storedPath: string, config: Pick<Config, 'encryption'>, signal: AbortSignal): Promise<{ facts: RdbFacts; report: string; inspector: RdbInspector }> {
  return withNamedPipes(['checked', 'inspected'], async (fifos) => {
    const stop = new AbortController();
    const stopped = AbortSignal.any([signal, stop.signal]);
    const checked = checkRdb(fifos.checked, stopped);
    const inspector = new RdbInspector('left to redis-check-rdb');
    const inspected = readNamedPipe(fifos.inspected, (chunk) => inspector.inspect(chunk), stopped);
    const decoded = decodeDataFileToBoth(storedPath, fifos.checked, fifos.inspected, config, stopped);
    // The decoder's failure explains the checker's (a truncated stream); otherwise the checker's verdict comes first.
    await settleTogether([decoded, checked, inspected], stop);
    const report = await checked;
    try {
      inspector.finish();
      return { facts: inspector.resultCheckedBy(report), report, inspector };
    } catch (error) {
      throw new VerificationFailed((error as Error).message);
    }
  });
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
