/**
 * The one way a store writes and reads a set's data file, so every store compresses and encrypts the
 * same way. Writing: plaintext (through the store's deep-check taps) -> compress -> encrypt (when
 * recipients are configured) -> file, hashed as written or read back once written, so SHA256SUMS
 * covers the bytes on disk. Reading: file -> decrypt (needs the identity) -> decompress -> plaintext,
 * chosen by the file's name.
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { chmod, rm } from 'node:fs/promises';
import { basename } from 'node:path';
import { PassThrough, Readable, type Duplex, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { algorithmOfFile, isEncryptedFile, storedFileName, type Compression } from '../core/compression';
import type { Config } from '../core/config';
import { endingOnSuccess, settleTogether, spawnPipe, type Command } from './child-process';
import { compressor, compressorCommand, decompressor, decompressorCommand } from './compression-streams';
import { decryptor, decryptorCommand, encryptor, encryptorCommand, identityFor } from './encryption';
import { chunkWriter, readFileChunks, type ChunkConsumer, type ChunkWriter } from './file-chunks';
import { fileModes } from './file-modes';
import { readNamedPipe, withNamedPipes } from './named-pipes';
import { HashingTap, hashWrittenFile, rememberWrittenHash } from './repository/hashing';

/** How a data file is stored. */
export interface DataFileEncoding {
  /** Absent: stored as it comes (a PostgreSQL custom archive with gzip compresses itself). */
  compression?: Compression;
  /** Empty: not encrypted. */
  recipients: readonly string[];
}

export interface WrittenDataFile {
  /** Bytes on disk (after compression and encryption) and their sha256, for SHA256SUMS. */
  bytes: number;
  sha256: string;
}

/** `redis_<stamp>.rdb` -> `redis_<stamp>.rdb.gz.age` etc., as `encoding` stores it. */
export function dataFileName(name: string, encoding: DataFileEncoding): string {
  return storedFileName(name, encoding.compression, encoding.recipients.length > 0);
}

/** True for a file stored as its plaintext (neither compressed nor encrypted), which a tool can open and seek in itself. */
export function isStoredAsIs(fileName: string): boolean {
  return !isEncryptedFile(fileName) && algorithmOfFile(fileName) === undefined;
}

/** The line a backup's checks carry for files written encrypted: their deep checks ran on the plaintext; none when not encrypted. */
export function encryptionChecks(fileNames: readonly string[], encoding: DataFileEncoding): string[] {
  const count = encoding.recipients.length;
  if (count === 0) return [];
  return [`${fileNames.join(', ')}: encrypted with age to ${count} ${count === 1 ? 'recipient' : 'recipients'}; checked on the plaintext before encryption`];
}

/** The stages between the plaintext and the file: compress, then encrypt. */
export function encodingStages(encoding: DataFileEncoding, signal?: AbortSignal): Duplex[] {
  return [
    ...(encoding.compression ? [compressor(encoding.compression, signal)] : []),
    ...(encoding.recipients.length > 0 ? [encryptor(encoding.recipients, signal)] : []),
  ];
}

/** The stages between the plaintext and the file as programs, or undefined when one runs inside Node (gzip without pigz). */
export function encodingCommands(encoding: DataFileEncoding): Command[] | undefined {
  const compress = encoding.compression ? compressorCommand(encoding.compression) : undefined;
  if (encoding.compression && !compress) return undefined;
  return [...(compress ? [compress] : []), ...(encoding.recipients.length > 0 ? [encryptorCommand(encoding.recipients)] : [])];
}

/**
 * The stages from a stored file's bytes to its plaintext, by its name: decrypt (`.age`), then
 * decompress (`.gz`, `.zst`). An encrypted file on a worker without an identity is refused at once
 * with EncryptionIdentityMissing.
 */
export function decodingStages(fileName: string, config: Pick<Config, 'encryption'>, signal?: AbortSignal): Duplex[] {
  const algorithm = algorithmOfFile(fileName);
  return [
    ...(isEncryptedFile(fileName) ? [decryptor(identityFor(config, fileName), signal)] : []),
    ...(algorithm ? [decompressor(algorithm, signal)] : []),
  ];
}

/**
 * Writes `plaintext` (a source and the store's checking taps, which see plaintext) to `path` as
 * `encoding` says, hashing the stored bytes. The file is created with the repository's file mode; a
 * failure leaves no file behind.
 */
export async function writeDataFile(
  plaintext: readonly [Readable, ...Duplex[]],
  path: string,
  encoding: DataFileEncoding,
  signal?: AbortSignal,
): Promise<WrittenDataFile> {
  const tap = new HashingTap();
  try {
    await pipeline([...plaintext, ...encodingStages(encoding, signal), tap, createWriteStream(path, { mode: fileModes().file })]);
  } catch (error) {
    await rm(path, { force: true });
    throw error;
  }
  const written = { bytes: tap.bytes, sha256: tap.digest() };
  await rememberWrittenHash(path, written);
  return written;
}

/** The stage that stores bytes as they come: a pipe needs a program to write its file. */
const AS_IS: Command = { command: 'cat', args: [] };

/**
 * Writes a child's stdout, or a named pipe, to `path` as `encoding` says, none of it read by Node: the
 * compressor and age read it and the last of them writes the file, as in a shell pipe, every stage's
 * exit code checked. The file is hashed once it is written, where reading it back costs a fraction of
 * passing every byte through Node. Falls back to writeDataFile when a stage runs inside Node. A
 * failure leaves no file behind.
 */
export async function writeChildOutput(
  output: Readable | { path: string },
  path: string,
  encoding: DataFileEncoding,
  signal?: AbortSignal,
): Promise<WrittenDataFile> {
  const commands = encodingCommands(encoding);
  if (!commands) return writeDataFile([output instanceof Readable ? output : createReadStream(output.path)], path, encoding, signal);
  return storedOnceDone(spawnPipe(output, nonEmpty(commands), { signal, into: path }).done, path);
}

/**
 * A data file written, as `encoding` says, from chunks the caller lends to `writer` (see ChunkWriter):
 * the compressor and age read them from their stdin, and the file is hashed once written, as
 * writeChildOutput does. `written` settles once `writer` ended and every program exited; a failure
 * leaves no file behind. For a stream that Node reads anyway (to count it), handed on without a `tee`.
 */
export function writeDataFileFromChunks(path: string, encoding: DataFileEncoding, signal?: AbortSignal): { writer: ChunkWriter; written: Promise<WrittenDataFile> } {
  const commands = encodingCommands(encoding);
  if (!commands) {
    // A stage inside Node may hold a chunk after its write returned: it gets a copy.
    const source = new PassThrough({ highWaterMark: 1 << 20 });
    const copies = chunkWriter(source);
    return { writer: { write: (chunk) => copies.write(Buffer.from(chunk)), end: copies.end }, written: writeDataFile([source], path, encoding, signal) };
  }
  const piped = spawnPipe('pipe', nonEmpty(commands), { signal, into: path });
  return { writer: chunkWriter(piped.input as Writable), written: storedOnceDone(piped.done, path) };
}

/** The file the programs of `done` wrote to `path`, given the repository's mode and hashed; removed when they failed. */
async function storedOnceDone(done: Promise<void>, path: string): Promise<WrittenDataFile> {
  try {
    await done;
    // The stages' shell creates the file owner-only; the repository's mode may let the group read it.
    await chmod(path, fileModes().file);
    const hashed = await hashWrittenFile(path);
    return { bytes: hashed.bytes, sha256: hashed.sha256 };
  } catch (error) {
    await rm(path, { force: true });
    throw error;
  }
}

/**
 * Decodes a stored data file into the plaintext file `target` (created owner-only) with the programs
 * alone, as `age -d < file | zstd -d > target` would: the bytes never pass through Node. An encrypted
 * file on a worker without an identity is refused at once with EncryptionIdentityMissing.
 */
export async function decodeDataFileTo(path: string, target: string, config: Pick<Config, 'encryption'>, signal?: AbortSignal): Promise<void> {
  try {
    await spawnPipe({ path }, nonEmpty(decodingCommands(basename(path), config)), { signal, into: target }).done;
  } catch (error) {
    await rm(target, { force: true });
    throw error;
  }
}

/**
 * A stored file's plaintext, decoded by the programs and written by `tee -p` both to `copy` (a file, or
 * a named pipe a checker reads) and to `into` (a named pipe): its bytes never pass through Node. `tee -p`
 * goes on writing `copy` when the reader of `into` stops early.
 */
export function decodeDataFileToBoth(path: string, copy: string, into: string, config: Pick<Config, 'encryption'>, signal?: AbortSignal): Promise<void> {
  return spawnPipe({ path }, nonEmpty([...decodingCommands(basename(path), config), { command: 'tee', args: ['-p', copy] }]), { signal, into }).done;
}

/** The programs from a stored file's bytes to its plaintext, by its name: `age -d` (`.age`), then the decompressor (`.gz`, `.zst`). */
function decodingCommands(fileName: string, config: Pick<Config, 'encryption'>): Command[] {
  const algorithm = algorithmOfFile(fileName);
  return [
    ...(isEncryptedFile(fileName) ? [decryptorCommand(identityFor(config, fileName))] : []),
    ...(algorithm ? [decompressorCommand(algorithm)] : []),
  ];
}

function nonEmpty(commands: readonly Command[]): [Command, ...Command[]] {
  const [first = AS_IS, ...rest] = commands;
  return [first, ...rest];
}

/**
 * A stored data file's plaintext, decrypted and decompressed by the programs as it is read: Node reads
 * only the plaintext. It ends only once every program exited with 0, so a truncated or unauthenticated
 * file fails the reader instead of ending early; destroying it stops every program. An encrypted file
 * on a worker without an identity is refused at once with EncryptionIdentityMissing.
 */
export function readDataFile(path: string, config: Pick<Config, 'encryption'>, signal?: AbortSignal): Readable {
  const commands = decodingCommands(basename(path), config);
  const [first, ...rest] = commands;
  if (!first) return createReadStream(path, { highWaterMark: 1 << 20 });
  const stop = new AbortController();
  const piped = spawnPipe({ path }, [first, ...rest], { signal: signal ? AbortSignal.any([signal, stop.signal]) : stop.signal });
  const plaintext = endingOnSuccess(piped.output as Readable, piped.done);
  plaintext.once('close', () => stop.abort());
  return plaintext;
}

/**
 * A stored data file's plaintext lent chunk by chunk to `onChunk` (see ChunkConsumer) through one
 * reused buffer: the programs decrypt and decompress it into a named pipe, so no chunk is a fresh
 * buffer. Resolves once every program exited with 0 and every chunk was consumed; a truncated or
 * unauthenticated file fails with its program's reason. An encrypted file on a worker without an
 * identity is refused at once with EncryptionIdentityMissing.
 */
export async function readDataFileChunks(path: string, config: Pick<Config, 'encryption'>, onChunk: ChunkConsumer, signal: AbortSignal): Promise<void> {
  const commands = decodingCommands(basename(path), config);
  const [first, ...rest] = commands;
  if (!first) return readFileChunks(path, onChunk);
  // A consumer that fails (a peer that hung up) is the cause; the decoder it left writing to nobody is not.
  let consumerFailure: unknown;
  const consume: ChunkConsumer = (chunk) => {
    const noted = (error: unknown) => {
      consumerFailure ??= error;
      throw error;
    };
    try {
      return onChunk(chunk)?.catch(noted);
    } catch (error) {
      return noted(error);
    }
  };
  await withNamedPipes(['plaintext'], async (fifos) => {
    const stop = new AbortController();
    const stopped = AbortSignal.any([signal, stop.signal]);
    const decoded = spawnPipe({ path }, [first, ...rest], { signal: stopped, into: fifos.plaintext }).done;
    await settleTogether([decoded, readNamedPipe(fifos.plaintext, consume, stopped)], stop).catch((error: unknown) => {
      throw consumerFailure ?? error;
    });
  });
}

/**
 * `source` piped through `stages`, as one readable: an error anywhere reaches the end (and so whoever
 * reads it), and destroying the end destroys every stage before it.
 */
export function chained(source: Readable, stages: readonly Duplex[]): Readable {
  let output = source;
  for (const stage of stages) {
    const upstream = output;
    upstream.once('error', (error) => stage.destroy(error));
    stage.once('close', () => upstream.destroy());
    output = upstream.pipe(stage);
  }
  return output;
}
