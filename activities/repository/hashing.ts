import { createHash, type Hash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { Transform, Writable, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';

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

export async function hashFile(path: string, onBytes?: (bytes: number) => void): Promise<{ sha256: string; bytes: number }> {
  const tap = new HashingTap(onBytes);
  await pipeline(createReadStream(path, { highWaterMark: 1 << 20 }), tap, discard());
  return { sha256: tap.digest(), bytes: tap.bytes };
}

/** The end of a pipeline whose data has been looked at already. */
export function discard(): Writable {
  return new Writable({ write: (_chunk, _encoding, callback) => callback() });
}
