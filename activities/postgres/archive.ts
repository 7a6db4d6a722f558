/** Reading a stored custom-format archive with pg_restore, whether it was stored as is, with zstd, or encrypted. */
import { mkdir, rm } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import type { Writable } from 'node:stream';
import type { Config } from '../../core/config';
import { runForOutput, spawnChecked } from '../child-process';
import { decodeDataFileTo, isStoredAsIs, readDataFile } from '../data-file-streams';
import { fileModes } from '../file-modes';
import type { ProgressReporter } from '../heartbeat';

/** The header and table of contents (`pg_restore --list`, with `extra` options such as `--create`) of an archive pg_restore can open itself. */
export function archiveList(archive: string, extra: readonly string[] = []): Promise<string> {
  return runForOutput('pg_restore', ['--list', ...extra, archive]);
}

/**
 * The header and table of contents of a set's stored archive, decrypting and decompressing only as much
 * as pg_restore reads: it stops after the table of contents, so only its exit status counts, and the
 * rest of the file is never decoded. An encrypted archive on a worker without an identity is refused
 * at once with EncryptionIdentityMissing; one that does not decrypt fails with age's reason.
 */
export async function storedArchiveList(path: string, config: Pick<Config, 'encryption'>, extra: readonly string[], signal?: AbortSignal): Promise<string> {
  if (isStoredAsIs(basename(path))) return archiveList(path, extra);
  const plaintext = readDataFile(path, config, signal);
  const reader = spawnChecked('pg_restore', ['--list', ...extra], { stdin: 'pipe', signal });
  const stdin = reader.process.stdin as Writable;
  let decodingError: Error | undefined;
  stdin.on('error', () => undefined);
  plaintext.once('error', (error) => {
    decodingError = error;
    stdin.destroy();
  });
  plaintext.pipe(stdin);
  let out = '';
  reader.process.stdout?.setEncoding('utf8').on('data', (text: string) => (out += text));
  try {
    await reader.done;
  } catch (error) {
    throw decodingError ?? error;
  } finally {
    plaintext.destroy();
  }
  return out;
}

/**
 * Runs `work` on an archive pg_restore can seek in (parallel restore needs that): the stored file itself,
 * or, for a compressed or encrypted archive, a plaintext copy at `scratch` (owner-only, in BACKUP_DIR's
 * scratch folder) that is removed afterwards.
 */
export async function withSeekableArchive<T>(
  path: string,
  scratch: string,
  config: Pick<Config, 'encryption'>,
  progress: ProgressReporter,
  work: (archive: string) => Promise<T>,
): Promise<T> {
  try {
    return await work(await seekableArchive(path, scratch, config, progress));
  } finally {
    if (!isStoredAsIs(basename(path))) await rm(scratch, { force: true });
  }
}

/** The stored archive itself when pg_restore can seek in it, else its plaintext decoded to `scratch` (the caller removes it). */
export async function seekableArchive(path: string, scratch: string, config: Pick<Config, 'encryption'>, progress: ProgressReporter): Promise<string> {
  if (isStoredAsIs(basename(path))) return path;
  progress.phase('decoding archive');
  await mkdir(dirname(scratch), { recursive: true, mode: fileModes().directory });
  await decodeDataFileTo(path, scratch, config, progress.signal);
  return scratch;
}
