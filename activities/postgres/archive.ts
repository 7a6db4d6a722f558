/** Reading a stored custom-format archive with pg_restore, whether it was stored as is, with zstd, or encrypted. */
import { mkdir, open, rm } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import type { Writable } from 'node:stream';
import type { Config } from '../../core/config';
import { runForOutput, settleTogether, spawnChecked } from '../child-process';
import { withNamedPipes } from '../named-pipes';
import { decodeDataFileTo, isStoredAsIs, readDataFile } from '../data-file-streams';
import { fileModes } from '../file-modes';
import type { ProgressReporter } from '../heartbeat';

/** What `pg_restore` prints with `args` (`--list`, or `--file=-` with a list) for one archive. */
export type ArchiveReader = (args: readonly string[]) => Promise<string>;

/** An archive pg_restore can open itself. */
export function archiveFile(archive: string): ArchiveReader {
  return (args) => runForOutput('pg_restore', [...args, archive]);
}

/**
 * A set's stored archive, decrypting and decompressing only as much as pg_restore reads: for the table
 * of contents and the entries without data it stops early, so only its exit status counts, and the
 * rest of the file is never decoded. An encrypted archive on a worker without an identity is refused
 * at once with EncryptionIdentityMissing; one that does not decrypt fails with age's reason.
 */
export function storedArchive(path: string, config: Pick<Config, 'encryption'>, signal?: AbortSignal): ArchiveReader {
  if (isStoredAsIs(basename(path))) return archiveFile(path);
  return async (args) => {
    const plaintext = readDataFile(path, config, signal);
    const reader = spawnChecked('pg_restore', args, { stdin: 'pipe', signal });
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
  };
}

/**
 * pg_restore with `args` reading a set's stored archive on its stdin as the programs decode it: one job,
 * since a stream cannot be sought in, but it starts with the first decoded bytes instead of after the
 * last, and no decoded copy is written.
 */
export async function pgRestoreWhileDecoding(
  path: string,
  config: Pick<Config, 'encryption'>,
  pgRestore: { args: readonly string[]; env: NodeJS.ProcessEnv },
  signal?: AbortSignal,
): Promise<void> {
  await withNamedPipes(['archive'], async (fifos) => {
    const stop = new AbortController();
    const stopped = signal ? AbortSignal.any([signal, stop.signal]) : stop.signal;
    const restoring = spawnChecked('pg_restore', pgRestore.args, { env: pgRestore.env, stdinFrom: fifos.archive, stdout: 'ignore', signal: stopped });
    const decoded = decodeDataFileTo(path, fifos.archive, config, stopped);
    // A damaged or cut file fails the decoder first, and pg_restore only because its input ended: the decoder's reason comes first.
    await settleTogether([decoded, restoring.done], stop);
  });
}

/** How much of an archive's start is decoded in the hope that it holds the whole table of contents. */
const TABLE_OF_CONTENTS_BYTES = 16 << 20;

/**
 * A seekable archive at `copy` (owner-only) for what reads no table data: the indexes, constraints and
 * other entries of the post-data section, and the database's properties, all of which pg_restore takes
 * from the table of contents, by parallel jobs too. That is the archive's start, decoded up to `headBytes`,
 * when pg_restore can list it (a table of contents cut short cannot be listed); else, for a database with
 * a longer table of contents, the whole archive. The table data is read from the stream by the stage.
 */
export async function keepTableOfContents(
  path: string,
  copy: string,
  config: Pick<Config, 'encryption'>,
  signal?: AbortSignal,
  headBytes = TABLE_OF_CONTENTS_BYTES,
): Promise<'head' | 'whole archive'> {
  await mkdir(dirname(copy), { recursive: true, mode: fileModes().directory });
  await rm(copy, { force: true });
  // Owner-only: it is the plaintext of a file that may have been encrypted.
  const file = await open(copy, 'wx', 0o600);
  const plaintext = readDataFile(path, config, signal);
  let kept = 0;
  try {
    for await (const chunk of plaintext) {
      const piece = (chunk as Buffer).subarray(0, headBytes - kept);
      await file.write(piece);
      kept += piece.length;
      if (kept >= headBytes) break;
    }
  } catch (error) {
    await rm(copy, { force: true });
    throw error;
  } finally {
    plaintext.destroy();
    await file.close();
  }
  if (kept < headBytes) return 'whole archive';
  if (await archiveFile(copy)(['--list']).then(() => true, () => false)) return 'head';
  await decodeDataFileTo(path, copy, config, signal);
  return 'whole archive';
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
async function seekableArchive(path: string, scratch: string, config: Pick<Config, 'encryption'>, progress: ProgressReporter): Promise<string> {
  if (isStoredAsIs(basename(path))) return path;
  progress.phase('decoding archive');
  await mkdir(dirname(scratch), { recursive: true, mode: fileModes().directory });
  await decodeDataFileTo(path, scratch, config, progress.signal);
  return scratch;
}
