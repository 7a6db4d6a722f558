/**
 * Who may read what the tool writes. Sets hold every user's data (and the globals file the roles'
 * password hashes), so what the worker creates gets the modes of `fileModesOf` (core/config.ts),
 * whatever umask the process inherited.
 */
import type { Stats } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { fileModesOf, type Config, type FileModes } from '../core/config';
import { isSetName } from '../core/set-names';

let current: FileModes = fileModesOf({ groupRead: false });

/**
 * Call once when the worker starts: every file and folder it creates afterwards, by this code, its
 * libraries or its child processes, gets at most these modes, and the repository passes them explicitly.
 */
export function applyFileModes(config: Pick<Config, 'groupRead'>): FileModes {
  current = fileModesOf(config);
  process.umask(current.umask);
  return current;
}

/** The modes new folders and files are created with, passed explicitly where the repository creates them. */
export function fileModes(): FileModes {
  return current;
}

export interface PathMode {
  path: string;
  /** `stat().mode`. */
  mode: number;
  directory: boolean;
}

const MAX_WARNINGS = 5;

/** A warning line for each path other users may read (a folder: list), the first few of them and how many more. */
export function exposureWarnings(paths: readonly PathMode[]): string[] {
  const exposed = paths.filter(({ mode }) => (mode & 0o004) !== 0);
  const lines = exposed.slice(0, MAX_WARNINGS).map(({ path, mode, directory }) => {
    const shown = (mode & 0o777).toString(8).padStart(4, '0');
    return `${directory ? 'folder' : 'file'} ${path} is readable by every user of this host (mode ${shown}): chmod ${directory ? '-R ' : ''}o-rwx ${path}`;
  });
  if (exposed.length > MAX_WARNINGS) lines.push(`and ${exposed.length - MAX_WARNINGS} more paths under the same BACKUP_DIR readable by every user`);
  return lines;
}

/**
 * For `health-check`: BACKUP_DIR, every set folder in it and every file of each set, with their modes;
 * give the result to `exposureWarnings`. A missing BACKUP_DIR gives nothing to check.
 */
export async function modesUnderBackupDir(backupDir: string): Promise<PathMode[]> {
  let top: Stats;
  try {
    top = await stat(backupDir);
  } catch {
    return [];
  }
  const found: PathMode[] = [{ path: backupDir, mode: top.mode, directory: true }];
  for (const name of (await readdir(backupDir)).filter(isSetName).sort()) {
    const setPath = join(backupDir, name);
    const setStats = await stat(setPath);
    found.push({ path: setPath, mode: setStats.mode, directory: true });
    for (const entry of await readdir(setPath, { recursive: true })) {
      const path = join(setPath, entry);
      const stats = await stat(path);
      found.push({ path, mode: stats.mode, directory: stats.isDirectory() });
    }
  }
  return found;
}
