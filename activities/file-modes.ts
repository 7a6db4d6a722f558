/**
 * Who may read what the tool writes. Sets hold every user's data (and the globals file the roles'
 * password hashes), so sets, staging, safety snapshots and logs are owner-only (folders 0700, files
 * 0600), or readable by the owner's group with BACKUP_FILE_GROUP_READ=true (0750/0640, as pgBackRest
 * allows), whatever umask the process inherited.
 */
import type { Stats } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { isSetName } from '../core/set-names';

export interface FileModes {
  directory: number;
  file: number;
  umask: number;
}

const OWNER_ONLY: FileModes = { directory: 0o700, file: 0o600, umask: 0o077 };
const GROUP_READ: FileModes = { directory: 0o750, file: 0o640, umask: 0o027 };
let current: FileModes = OWNER_ONLY;

/**
 * Call once when a process that writes files starts (the worker, the CLI): every file and folder it
 * creates afterwards, by this code, its libraries or its child processes, gets at most these modes.
 */
export function applyFileModes(config: { groupRead: boolean }): FileModes {
  current = config.groupRead ? GROUP_READ : OWNER_ONLY;
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
