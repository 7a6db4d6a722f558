/** Reading a stored custom-format archive with pg_restore, whether it was stored as is or with zstd. */
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { algorithmOfFile } from '../../core/compression';
import { runForOutput } from '../child-process';
import { decompressorFor } from '../compression-streams';
import type { ProgressReporter } from '../heartbeat';

/**
 * The archive's header and table of contents (`pg_restore --list`, with `extra` options such as
 * `--create`), decompressing a `.zst` archive on the fly.
 */
export async function archiveList(path: string, extra: readonly string[] = []): Promise<string> {
  if (algorithmOfFile(path) === undefined) return runForOutput('pg_restore', ['--list', ...extra, path]);
  // pg_restore stops reading after the table of contents; only its exit status counts, not zstd's broken pipe.
  return runForOutput('bash', ['-c', 'zstd -q -d -c -- "$1" | pg_restore --list "${@:2}"', 'archive-list', path, ...extra]);
}

/**
 * Runs `work` on an archive pg_restore can seek in (parallel restore needs that): the stored file itself,
 * or, for a `.zst` archive, a decompressed copy at `scratch` that is removed afterwards.
 */
export async function withSeekableArchive<T>(path: string, scratch: string, progress: ProgressReporter, work: (archive: string) => Promise<T>): Promise<T> {
  if (algorithmOfFile(path) === undefined) return work(path);
  progress.phase('decompressing archive');
  await mkdir(dirname(scratch), { recursive: true });
  try {
    await pipeline(createReadStream(path, { highWaterMark: 1 << 20 }), decompressorFor(path, progress.signal), createWriteStream(scratch));
    return await work(scratch);
  } finally {
    await rm(scratch, { force: true });
  }
}
