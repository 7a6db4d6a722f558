import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Config } from '../../core/config';
import { fileModes } from '../file-modes';
import { scratchDirectory } from '../repository/sets';

/** Runs `work` on a scratch folder of this worker that is always removed afterwards. */
export async function withScratch<T>(config: Config, name: string, work: (dir: string) => Promise<T>): Promise<T> {
  const dir = join(scratchDirectory(config.backupDir), `${name}-redis-${process.pid}`);
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true, mode: fileModes().directory });
  try {
    return await work(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
