import { createHash, type Hash } from 'node:crypto';
import { stat } from 'node:fs/promises';
import type { BigIntStats } from 'node:fs';
import { Transform, Writable, type TransformCallback } from 'node:stream';
import { readFileChunks } from '../file-chunks';

/** A pass-through that hashes and counts what flows through it, so a file is hashed while it is written. */
export class HashingTap extends Transform {
  private readonly hash: Hash = createHash('sha256');
  bytes = 0;

  constructor(private readonly onBytes?: (bytes: number) => void) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.hash.update(chunk);
    this.bytes += chunk.length;
    this.onBytes?.(this.bytes);
    callback(null, chunk);
  }

  /** Hex digest; call once, after the stream has finished. */
  digest(): string {
    return this.hash.digest('hex');
  }
}

/** The sha256 and size of a file, read into one reused buffer. */
export async function hashFile(path: string, onBytes?: (bytes: number) => void): Promise<{ sha256: string; bytes: number }> {
  const hash = createHash('sha256');
  let bytes = 0;
  await readFileChunks(path, (chunk) => {
    hash.update(chunk);
    bytes += chunk.length;
    onBytes?.(bytes);
  });
  return { sha256: hash.digest('hex'), bytes };
}

/**
 * The files this process wrote and then hashed, by path, with their inode, size and times as they were
 * when hashed. A file whose stat is still the same has not been written to since.
 */
const hashedOnceWritten = new Map<string, { sha256: string; bytes: number; identity: string }>();
/**
 * Files hashed but never sealed (a safety snapshot, a failed run's) would stay forever in a worker that
 * runs for months: the oldest go first. A set has a handful of files; a forgotten one is only read again.
 */
const REMEMBERED_FILES = 256;

function remember(path: string, entry: { sha256: string; bytes: number; identity: string }): void {
  hashedOnceWritten.delete(path);
  hashedOnceWritten.set(path, entry);
  for (const oldest of hashedOnceWritten.keys()) {
    if (hashedOnceWritten.size <= REMEMBERED_FILES) break;
    hashedOnceWritten.delete(oldest);
  }
}

function identityOf(stats: BigIntStats): string {
  return [stats.dev, stats.ino, stats.size, stats.mtimeNs, stats.ctimeNs].join(':');
}

/** `hashFile` for a file just written by a program; remembered for `hashOfUnchangedFile`. */
export async function hashWrittenFile(path: string): Promise<{ sha256: string; bytes: number }> {
  const before = identityOf(await stat(path, { bigint: true }));
  const hashed = await hashFile(path);
  if (identityOf(await stat(path, { bigint: true })) === before) remember(path, { ...hashed, identity: before });
  return hashed;
}

/** Remembers, for `hashOfUnchangedFile`, the hash of a file that was hashed as this process wrote it and is now closed. */
export async function rememberWrittenHash(path: string, hashed: { sha256: string; bytes: number }): Promise<void> {
  remember(path, { ...hashed, identity: identityOf(await stat(path, { bigint: true })) });
}

/**
 * The hash `hashWrittenFile` took of `path` in this process, if the file has not changed since:
 * reading it again, seconds later and from the same page cache, would prove nothing more. Undefined
 * otherwise (another process wrote it, or anything touched it), and the caller reads it. Forgotten once asked.
 */
export async function hashOfUnchangedFile(path: string): Promise<{ sha256: string; bytes: number } | undefined> {
  const known = hashedOnceWritten.get(path);
  hashedOnceWritten.delete(path);
  if (!known) return undefined;
  const now = await stat(path, { bigint: true }).catch(() => undefined);
  return now && identityOf(now) === known.identity ? { sha256: known.sha256, bytes: known.bytes } : undefined;
}

/** The end of a pipeline whose data has been looked at already. */
export function discard(): Writable {
  return new Writable({ write: (_chunk, _encoding, callback) => callback() });
}
