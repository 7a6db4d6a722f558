/**
 * Bytes moved through one reused buffer instead of a fresh one per read. Every fresh buffer counts
 * against V8's heap limit until the next full collection: a few hundred megabytes of them cost the
 * worker a full mark-compact every dozen megabytes (issue 19: 30 of them, 1.7 s of CPU, in one backup
 * of a 363 MB RDB). So a chunk is lent, not given: it is valid until its consumer's promise settles.
 */
import { open } from 'node:fs/promises';
import type { Writable } from 'node:stream';

/** How much of a file is read at a time. */
const READ_BYTES = 1 << 20;

/**
 * A chunk's consumer: done with the chunk when it returns, or when the promise it returns settles,
 * and not before. The buffer is reused for the next chunk then, so what must outlive it is copied.
 */
export type ChunkConsumer = (chunk: Buffer) => void | Promise<void>;

/** Reads a whole file through one buffer, handing every chunk to `onChunk` (see ChunkConsumer). */
export async function readFileChunks(path: string, onChunk: ChunkConsumer): Promise<void> {
  const buffer = Buffer.allocUnsafe(READ_BYTES);
  const file = await open(path, 'r');
  try {
    for (let read = await file.read(buffer, 0, buffer.length, null); read.bytesRead > 0; read = await file.read(buffer, 0, buffer.length, null)) {
      await onChunk(buffer.subarray(0, read.bytesRead));
    }
  } finally {
    await file.close();
  }
}

/** Writes whose promises settle once the destination no longer needs the chunk (see chunkWriter). */
export interface ChunkWriter {
  write: (chunk: Buffer) => Promise<void>;
  end: () => Promise<void>;
}

/**
 * Writes lent chunks to `destination` (a child's stdin, a socket, a file stream), each promise settling
 * once the destination is done with the chunk: a stream's write callback, unlike a Transform's, comes
 * once the bytes are out of the buffer. A destination that fails rejects the write under way and every
 * later one, instead of crashing the worker with an unheard 'error'.
 */
export function chunkWriter(destination: Writable): ChunkWriter {
  let failure: Error | undefined;
  destination.on('error', (error: Error) => (failure ??= error));
  const settle = (resolve: () => void, reject: (error: Error) => void) => (error?: Error | null) => {
    const cause = error ?? failure;
    if (cause) reject(cause);
    else resolve();
  };
  return {
    write: (chunk) => new Promise<void>((resolve, reject) => (failure ? reject(failure) : destination.write(chunk, settle(resolve, reject)))),
    end: () => new Promise<void>((resolve, reject) => (failure ? reject(failure) : destination.end(settle(resolve, reject)))),
  };
}
