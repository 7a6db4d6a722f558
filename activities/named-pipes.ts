/**
 * Named pipes (FIFOs) for tools that only take a file name, such as `redis-check-rdb`, or for `tee` to
 * hand one stream to two programs. Node's own child pipes are socket pairs, which such a program cannot
 * open by path (`/dev/fd/N` fails with ENXIO) and which report ECONNRESET instead of EPIPE to `tee -p`.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runForOutput } from './child-process';

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
