/**
 * What a staged restore keeps between its stage and its restore (activities/postgres/restore.ts): the
 * seekable archive pg_restore reads the indexes and constraints from (its table of contents, decoded
 * into BACKUP_DIR's scratch folder, or the set's own file when it is stored as is), and how far the
 * stage got, in a small state file beside it. Both go once the restore has finished the database, or with its rollback.
 */
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Config } from '../../core/config';
import { fileModes } from '../file-modes';
import { scratchDirectory } from '../repository/sets';

/** loading: the tables are being restored; pending: their rows were counted, the indexes wait; finishing: the indexes are being built. */
export type StageState = 'loading' | 'pending' | 'finishing';

export interface StagedArchive {
  /** Where a compressed or encrypted archive is decoded for the stage. */
  decodedPath: string;
  /** Records the archive the stage reads, `decodedPath` or the set's own file. */
  keep(archive: string): Promise<void>;
  mark(state: StageState): Promise<void>;
  /** How far the stage got and which archive it read; undefined when nothing was kept. */
  read(): Promise<{ state: StageState; archive: string } | undefined>;
  remove(): Promise<void>;
}

export function stagedArchiveOf(config: Pick<Config, 'backupDir'>, database: string): StagedArchive {
  const base = join(scratchDirectory(config.backupDir), `postgres-${database}`);
  const decodedPath = `${base}.custom`;
  const statePath = `${base}.stage.json`;
  let archive = decodedPath;
  const write = async (state: StageState) => {
    await mkdir(scratchDirectory(config.backupDir), { recursive: true, mode: fileModes().directory });
    await writeFile(statePath, JSON.stringify({ state, archive }), { mode: fileModes().file });
  };
  const read = async () => {
    const text = await readFile(statePath, 'utf8').catch(() => undefined);
    if (text === undefined) return undefined;
    const parsed = JSON.parse(text) as { state: StageState; archive: string };
    archive = parsed.archive;
    return parsed;
  };
  return {
    decodedPath,
    keep: async (kept) => {
      archive = kept;
      await write('loading');
    },
    mark: async (state) => {
      await read();
      await write(state);
    },
    read,
    remove: async () => {
      await rm(decodedPath, { force: true });
      await rm(statePath, { force: true });
    },
  };
}

/** Removes what a stage of `database` kept, if anything. */
export function removeStagedArchive(config: Pick<Config, 'backupDir'>, database: string): Promise<void> {
  return stagedArchiveOf(config, database).remove();
}
