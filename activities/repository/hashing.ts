import { createHash, type Hash } from 'node:crypto';
import { open } from 'node:fs/promises';
import { Transform, Writable, type TransformCallback } from 'node:stream';

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

/** How much of a file is hashed per read. */
const HASH_READ_BYTES = 1 << 20;

/**
 * The sha256 and size of a file, read into one buffer reused for every read: a stream would allocate a
 * fresh buffer per read, and a gigabyte of them lingers as garbage (tens of MB of the worker's memory)
 * until V8 collects it.
 */
export async function hashFile(path: string, onBytes?: (bytes: number) => void): Promise<{ sha256: string; bytes: number }> {
  const hash = createHash('sha256');
  const buffer = Buffer.allocUnsafe(HASH_READ_BYTES);
  const file = await open(path, 'r');
  let bytes = 0;
  try {
    for (let read = await file.read(buffer, 0, buffer.length, null); read.bytesRead > 0; read = await file.read(buffer, 0, buffer.length, null)) {
      hash.update(buffer.subarray(0, read.bytesRead));
      bytes += read.bytesRead;
      onBytes?.(bytes);
    }
  } finally {
    await file.close();
  }
  return { sha256: hash.digest('hex'), bytes };
}

/** The end of a pipeline whose data has been looked at already. */
export function discard(): Writable {
  return new Writable({ write: (_chunk, _encoding, callback) => callback() });
}
