/**
 * Named pipes (FIFOs) for tools that only take a file name, such as `redis-check-rdb`, or for `tee` to
 * hand one stream to two programs. Node's own child pipes are socket pairs, which such a program cannot
 * open by path (`/dev/fd/N` fails with ENXIO) and which report ECONNRESET instead of EPIPE to `tee -p`.
 */
import { constants, openSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runForOutput } from './child-process';
import type { ChunkConsumer } from './file-chunks';

/**
 * Runs `work` with one owner-only FIFO per name in a private temporary folder (in the system's temp
 * folder: BACKUP_DIR may be on a file system without FIFOs), removed afterwards.
 */
export async function withNamedPipes<Name extends string, T>(names: readonly Name[], work: (paths: Record<Name, string>) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), 'scholaria-pipes-'));
  try {
    const paths = Object.fromEntries(names.map((name) => [name, join(dir, name)])) as Record<Name, string>;
    await runForOutput('mkfifo', ['-m', '600', ...Object.values<string>(paths)]);
    return await work(paths);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** How much of a named pipe is read at a time (a pipe holds 64 KiB by default). */
const PIPE_READ_BYTES = 1 << 16;

/**
 * Reads a named pipe to its end, lending every chunk to `onChunk` (see ChunkConsumer): all reads go
 * into one buffer, and the pipe waits while a chunk's promise is pending. A child's stdout would
 * allocate a buffer per read, and the gigabytes of SQL a dump streams would leave that much garbage for
 * the worker's GC. Opened non-blocking, so no libuv thread waits on a writer that never comes; it ends
 * once every writer closed it, and `signal` stops it.
 */
export function readNamedPipe(path: string, onChunk: ChunkConsumer, signal: AbortSignal): Promise<void> {
  const buffer = Buffer.allocUnsafe(PIPE_READ_BYTES);
  return new Promise((resolve, reject) => {
    const pipe = new Socket({
      fd: openSync(path, constants.O_RDONLY | constants.O_NONBLOCK),
      readable: true,
      writable: false,
      onread: {
        buffer,
        callback: (bytes: number) => {
          try {
            const consumed = onChunk(buffer.subarray(0, bytes));
            if (!consumed) return true;
            consumed.then(
              () => pipe.resume(),
              (error: Error) => pipe.destroy(error),
            );
            return false;
          } catch (error) {
            pipe.destroy(error as Error);
            return false;
          }
        },
      },
    });
    const stop = () => pipe.destroy(signal.reason instanceof Error ? signal.reason : new Error('cancelled'));
    signal.addEventListener('abort', stop, { once: true });
    pipe.once('end', () => resolve());
    pipe.once('error', reject);
    pipe.once('close', () => {
      signal.removeEventListener('abort', stop);
      reject(new Error(`${path} was closed before its end`));
    });
  });
}
