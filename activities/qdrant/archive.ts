/**
 * The set's Qdrant archive, `qdrant_<stamp>/qdrant_snapshot.tar.gz`: a gzip'd tar whose first entry is
 * `collections.json` and then one `<collection>.snapshot` per collection, each an unmodified Qdrant
 * collection snapshot (itself an uncompressed tar). Written and read as streams through the data-file
 * API (compressed, then encrypted with age when recipients are set: `.tar.gz.age`): no snapshot is ever
 * held in memory, whatever its size, and every snapshot's tar is walked on the plaintext as it is written.
 */
import { createHash, type Hash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { basename, join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { HashingTap } from '../repository/hashing';
import { ChildFailed } from '../child-process';
import { chained, dataFileName, decodingStages, writeDataFile, type DataFileEncoding } from '../data-file-streams';
import { VerificationFailed } from '../repository/errors';
import { setDirectory } from '../repository/sets';
import type { Config } from '../../core/config';
import type { FileEntry } from '../../core/manifest';
import type { RestoreSource } from '../../core/contract';
import { describeAliases, INDEX_FILE, parseIndex, type CollectionsIndex, type RecordedCollection } from './collections-index';
import { TarFormatError, TarParser, endOfArchive, fileHeader, padding } from './tar';

/** `qdrant_snapshot.tar.gz` as the specification names it, or `.tar.zst` with zstd compression; `.age` after either when encrypted. */
export function archiveFileName(encoding: DataFileEncoding): string {
  return dataFileName('qdrant_snapshot.tar', encoding);
}
export const ARCHIVE_ROLE = 'qdrant-archive';
const MAX_INDEX_BYTES = 256 * 1024 * 1024;
const MAX_VERSION_INFO_BYTES = 4096;

/** Archive entry name of a collection's snapshot. */
export function snapshotEntryName(collection: string): string {
  return `${collection}.snapshot`;
}

/** A problem in the archive's content (not in I/O around it): becomes VerificationFailed naming the file. */
export class ArchiveFormatError extends Error {
  override name = 'ArchiveFormatError';
}

// ---- writing --------------------------------------------------------------------------------

export interface ArchiveSource {
  entryName: string;
  /** Known before the bytes flow: the tar header carries it. */
  size: number;
  sha256: string;
  /** The snapshot's bytes, e.g. a download in progress. */
  open(): Promise<AsyncIterable<Buffer> | Iterable<Buffer>>;
  /** The error when the bytes that came differ from `size`/`sha256`. */
  mismatch(actual: { bytes: number; sha256: string }): Error;
  /** Runs once the entry's bytes arrived and matched (e.g. deleting the server's snapshot). */
  done?(): Promise<void>;
}

export interface WrittenArchive {
  /** The stored file's size and sha256 (after compression and encryption), taken as it was written. */
  bytes: number;
  sha256: string;
  /** Per snapshot entry name, what walking its plaintext tar found as it was written. */
  snapshots: Map<string, SnapshotFacts>;
}

/**
 * Writes the archive: collections.json, then every source streamed through a sha256 check and walked
 * as a tar (SnapshotInspector, as verify does), compressed and encrypted as `encoding` says, into
 * `path`. A snapshot that is not a complete tar with a version.info fails the write (ArchiveFormatError).
 */
export async function writeArchive(
  path: string,
  index: CollectionsIndex,
  sources: readonly ArchiveSource[],
  options: { encoding: DataFileEncoding; signal?: AbortSignal; onSnapshotBytes?: (entry: string, bytes: number) => void },
): Promise<WrittenArchive> {
  const snapshots = new Map<string, SnapshotFacts>();
  const indexBytes = Buffer.from(`${JSON.stringify(index, null, 2)}\n`);
  const mtime = new Date();
  async function* blocks(): AsyncGenerator<Buffer> {
    yield fileHeader(INDEX_FILE, indexBytes.length, mtime);
    yield indexBytes;
    yield padding(indexBytes.length);
    for (const source of sources) {
      yield fileHeader(source.entryName, source.size, mtime);
      // Qdrant's checksum is checked first: a changed download is reported as such, not as a bad tar.
      const hash = createHash('sha256');
      let inspector: SnapshotInspector | undefined = new SnapshotInspector();
      let tarProblem = '';
      let bytes = 0;
      for await (const chunk of await source.open()) {
        bytes += chunk.length;
        if (bytes > source.size) throw source.mismatch({ bytes, sha256: 'not computed (more bytes than announced)' });
        hash.update(chunk);
        try {
          inspector?.push(chunk);
        } catch (error) {
          tarProblem = `not a readable tar: ${(error as Error).message}`;
          inspector = undefined;
        }
        options.onSnapshotBytes?.(source.entryName, bytes);
        yield chunk;
      }
      const sha256 = hash.digest('hex');
      if (bytes !== source.size || sha256 !== source.sha256) throw source.mismatch({ bytes, sha256 });
      let facts: SnapshotFacts | undefined;
      try {
        facts = inspector?.finish();
      } catch (error) {
        tarProblem = `not a complete Qdrant snapshot: ${(error as Error).message}`;
      }
      if (!facts) throw new ArchiveFormatError(`${source.entryName} is ${tarProblem}`);
      snapshots.set(source.entryName, facts);
      await source.done?.();
      yield padding(source.size);
    }
    yield endOfArchive();
  }
  const written = await writeDataFile([Readable.from(blocks(), { objectMode: false })], path, options.encoding, options.signal);
  return { ...written, snapshots };
}

// ---- reading --------------------------------------------------------------------------------

/** What reading a Qdrant snapshot (a tar) to its end found. */
export interface SnapshotFacts {
  bytes: number;
  sha256: string;
  /**
   * The snapshot's `version.info`: the version of Qdrant's `collection` crate that wrote it (0.4.2 from
   * Qdrant 1.13 to 1.19), a format version, not the server's.
   */
  versionInfo: string;
  entries: number;
  /** GNU sparse members (WAL segments, mmap'd storage files), read through their sparse maps. */
  sparseEntries: number;
}

/** Hashes a snapshot's bytes and walks its tar headers to the end-of-archive marker, as they stream by. */
export class SnapshotInspector {
  private readonly parser = new TarParser();
  private readonly hash: Hash = createHash('sha256');
  private bytes = 0;
  private versionChunks: Buffer[] | undefined;
  private versionInfo: string | undefined;
  private sparseEntries = 0;

  push(chunk: Buffer): void {
    this.hash.update(chunk);
    this.bytes += chunk.length;
    for (const event of this.parser.push(chunk)) {
      if (event.kind === 'entry') {
        if (event.sparse) this.sparseEntries++;
        const name = event.name.replace(/^(\.\/)+/, '');
        this.versionChunks = name === 'version.info' && event.size <= MAX_VERSION_INFO_BYTES ? [] : undefined;
      } else if (event.kind === 'data') {
        this.versionChunks?.push(Buffer.from(event.chunk));
      } else if (event.kind === 'entryEnd' && this.versionChunks) {
        this.versionInfo = Buffer.concat(this.versionChunks).toString('utf8').trim();
        this.versionChunks = undefined;
      }
    }
  }

  /** Throws TarFormatError when the tar is incomplete or has no version.info. */
  finish(): SnapshotFacts {
    this.parser.finish();
    if (!this.versionInfo) throw new TarFormatError('it has no version.info');
    return { bytes: this.bytes, sha256: this.hash.digest('hex'), versionInfo: this.versionInfo, entries: this.parser.entries, sparseEntries: this.sparseEntries };
  }
}

/** Receives one snapshot's bytes while the archive is read (e.g. into a scratch file). */
export interface SnapshotSink {
  write(chunk: Buffer): Promise<void> | void;
  /** After the last byte, with what the inspection found. */
  end(facts: SnapshotFacts): Promise<void>;
}

export interface ArchiveContents {
  index: CollectionsIndex;
  /** Per snapshot entry name, what reading it found. */
  snapshots: Map<string, SnapshotFacts>;
  archive: { bytes: number; sha256: string };
}

export interface ReadArchiveOptions {
  signal?: AbortSignal;
  /** Compressed bytes read so far. */
  onBytes?: (bytes: number) => void;
  /** Stop after collections.json (which is the first entry). */
  indexOnly?: boolean;
  /** A sink for a snapshot entry, or undefined to only inspect it. */
  sinkFor?(entryName: string, index: CollectionsIndex): SnapshotSink | undefined;
}

/**
 * Reads the archive as a stream: decryption and decompression (by the file's name), tar headers,
 * collections.json (first entry), and every snapshot entry inspected (sha256, a well-formed tar to its
 * end, version.info). Content problems, a ciphertext that does not decrypt included, throw
 * ArchiveFormatError; an encrypted archive on a worker without an identity throws
 * EncryptionIdentityMissing before the file is opened; errors of a sink pass through unchanged.
 */
export async function readArchive(path: string, config: Pick<Config, 'encryption'>, options: ReadArchiveOptions = {}): Promise<ArchiveContents> {
  const tap = new HashingTap(options.onBytes);
  const stop = new AbortController();
  const abortOnCancel = (): void => stop.abort(options.signal?.reason);
  options.signal?.addEventListener('abort', abortOnCancel, { once: true });
  let index: CollectionsIndex | undefined;
  const snapshots = new Map<string, SnapshotFacts>();
  let stoppedEarly = false;

  // Node 20's pipeline reports an AbortError, not the error itself, when its last function throws
  // inside `for await`; the real error is kept here.
  let consumeError: unknown;
  async function consume(source: AsyncIterable<Buffer>): Promise<void> {
    try {
      await consumeEntries(source);
    } catch (error) {
      consumeError = error;
      throw error;
    }
  }

  async function consumeEntries(source: AsyncIterable<Buffer>): Promise<void> {
    const parser = new TarParser();
    let current:
      | { kind: 'index'; chunks: Buffer[]; size: number }
      | { kind: 'snapshot'; name: string; inspector: SnapshotInspector; sink: SnapshotSink | undefined }
      | undefined;
    for await (const chunk of source) {
      let events;
      try {
        events = parser.push(chunk);
      } catch (error) {
        throw new ArchiveFormatError(`not a readable tar: ${(error as Error).message}`);
      }
      for (const event of events) {
        if (event.kind === 'entry') {
          if (event.type !== '0') throw new ArchiveFormatError(`unexpected entry ${event.name} (type ${event.type})`);
          if (event.name === INDEX_FILE) {
            if (index) throw new ArchiveFormatError(`${INDEX_FILE} appears twice`);
            if (event.size > MAX_INDEX_BYTES) throw new ArchiveFormatError(`${INDEX_FILE} is ${event.size} bytes, too large`);
            current = { kind: 'index', chunks: [], size: event.size };
          } else if (event.name.endsWith('.snapshot')) {
            if (!index) throw new ArchiveFormatError(`${INDEX_FILE} is not the first entry`);
            if (snapshots.has(event.name)) throw new ArchiveFormatError(`${event.name} appears twice`);
            current = { kind: 'snapshot', name: event.name, inspector: new SnapshotInspector(), sink: options.sinkFor?.(event.name, index) };
          } else {
            throw new ArchiveFormatError(`unexpected entry ${event.name}`);
          }
        } else if (event.kind === 'data') {
          if (current?.kind === 'index') current.chunks.push(Buffer.from(event.chunk));
          if (current?.kind === 'snapshot') {
            try {
              current.inspector.push(event.chunk);
            } catch (error) {
              throw new ArchiveFormatError(`${current.name} is not a readable tar: ${(error as Error).message}`);
            }
            await current.sink?.write(event.chunk);
          }
        } else if (event.kind === 'entryEnd') {
          if (current?.kind === 'index') {
            try {
              index = parseIndex(Buffer.concat(current.chunks).toString('utf8'));
            } catch (error) {
              throw new ArchiveFormatError((error as Error).message);
            }
            if (options.indexOnly) {
              stoppedEarly = true;
              stop.abort();
              return;
            }
          } else if (current?.kind === 'snapshot') {
            let facts: SnapshotFacts;
            try {
              facts = current.inspector.finish();
            } catch (error) {
              throw new ArchiveFormatError(`${current.name} is not a complete Qdrant snapshot: ${(error as Error).message}`);
            }
            snapshots.set(current.name, facts);
            await current.sink?.end(facts);
          }
          current = undefined;
        }
      }
    }
    try {
      parser.finish();
    } catch (error) {
      throw new ArchiveFormatError((error as Error).message);
    }
  }

  try {
    const decoding = decodingStages(basename(path), config, stop.signal);
    await pipeline(chained(createReadStream(path, { highWaterMark: 1 << 20 }), [tap, ...decoding]), consume, { signal: stop.signal });
  } catch (error) {
    if (consumeError !== undefined) throw classify(consumeError);
    // Once collections.json is read, whatever the stopped reading reports (a killed age or zstd) does not count.
    if (!stoppedEarly) throw classify(error);
  } finally {
    options.signal?.removeEventListener('abort', abortOnCancel);
  }
  if (!index) throw new ArchiveFormatError(`${INDEX_FILE} is missing`);
  return { index, snapshots, archive: stoppedEarly ? { bytes: 0, sha256: '' } : { bytes: tap.bytes, sha256: tap.digest() } };
}

/** zlib, zstd, age and file errors are the archive's problems too; everything else (a sink's, a cancellation) passes. */
function classify(error: unknown): unknown {
  if (error instanceof ChildFailed && !/was stopped: the activity was cancelled/.test(error.message)) {
    return new ArchiveFormatError(`cannot be decoded to its end (${error.message})`);
  }
  const err = error as NodeJS.ErrnoException;
  if (typeof err?.code === 'string' && err.code.startsWith('Z_')) {
    return new ArchiveFormatError(`cannot be decompressed to its end (${err.message})`);
  }
  if (err?.code === 'ENOENT' || err?.code === 'EACCES' || err?.code === 'EISDIR') {
    return new ArchiveFormatError(`cannot be read (${err.code})`);
  }
  return error;
}

// ---- the set's archive as the verbs find it ---------------------------------------------------

export function archiveFileOf(files: readonly FileEntry[]): FileEntry {
  const file = files.find((entry) => entry.role === ARCHIVE_ROLE);
  if (!file) throw new VerificationFailed('the set has no Qdrant archive');
  return file;
}

/** Archive problems become VerificationFailed naming the file; other errors pass unchanged. */
export function asVerificationFailed(fileName: string, error: unknown): unknown {
  return error instanceof ArchiveFormatError ? new VerificationFailed(`${fileName}: ${error.message}`) : error;
}

/** The sealed set's archive and its collections.json (read without going past it). */
export async function readSetIndex(config: Config, input: RestoreSource, signal: AbortSignal): Promise<{ file: FileEntry; path: string; index: CollectionsIndex }> {
  const file = archiveFileOf(input.files);
  const path = join(setDirectory(config.backupDir, input.setName, 'sealed'), file.name);
  try {
    const { index } = await readArchive(path, config, { signal, indexOnly: true });
    return { file, path, index };
  } catch (error) {
    throw asVerificationFailed(file.name, error);
  }
}

/**
 * What the archive's snapshots, as walked (while writing, or reading back), prove against its
 * collections.json: every listed snapshot present with its recorded size and sha256, a complete tar
 * with a version.info, nothing unlisted. Throws VerificationFailed naming `fileName` otherwise.
 */
export function snapshotChecks(fileName: string, index: CollectionsIndex, snapshots: ReadonlyMap<string, SnapshotFacts>): string[] {
  const listed = new Set(index.collections.map((c) => c.file));
  for (const entry of snapshots.keys()) {
    if (!listed.has(entry)) throw new VerificationFailed(`${fileName}: ${entry} is not listed in ${INDEX_FILE}`);
  }
  const checks = index.collections.map((collection) => {
    const facts = snapshots.get(collection.file);
    if (!facts) throw new VerificationFailed(`${fileName}: the snapshot of ${collection.name} (${collection.file}) is missing`);
    checkSnapshotFacts(fileName, collection, facts);
    return (
      `${collection.name}: snapshot of ${facts.bytes} bytes matches its sha256, a complete tar of ${facts.entries} entries ` +
      `(${facts.sparseEntries} sparse), collection format ${facts.versionInfo}, ${collection.points} points recorded`
    );
  });
  checks.push(index.aliases.length ? `aliases recorded: ${describeAliases(index.aliases)}` : 'no aliases recorded');
  return checks;
}

export function checkSnapshotFacts(fileName: string, collection: RecordedCollection, facts: SnapshotFacts): void {
  if (facts.bytes !== collection.bytes || facts.sha256 !== collection.sha256) {
    throw new VerificationFailed(
      `${fileName}: the snapshot of ${collection.name} has ${facts.bytes} bytes with sha256 ${facts.sha256}; ` +
        `${INDEX_FILE} records ${collection.bytes} bytes with ${collection.sha256}`,
    );
  }
}
