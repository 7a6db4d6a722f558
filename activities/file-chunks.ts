import { open } from 'node:fs/promises';

/** How much of a file is read at a time. */
const READ_BYTES = 1 << 20;

/**
 * Reads a whole file, handing every chunk to `onChunk`, which must not keep it: all reads go into one
 * buffer. A stream would allocate a fresh buffer per read, and a gigabyte of them lingers as garbage
 * (tens of MB of the worker's memory) until V8 collects it.
 */
export async function readFileChunks(path: string, onChunk: (chunk: Buffer) => void): Promise<void> {
  const buffer = Buffer.allocUnsafe(READ_BYTES);
  const file = await open(path, 'r');
  try {
    for (let read = await file.read(buffer, 0, buffer.length, null); read.bytesRead > 0; read = await file.read(buffer, 0, buffer.length, null)) {
      onChunk(buffer.subarray(0, read.bytesRead));
    }
  } finally {
    await file.close();
  }
}
