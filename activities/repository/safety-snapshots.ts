/**
 * Safety snapshots on disk, BACKUP_DIR/.safety/<restore id>/<store>/: removed by each store's release
 * after a successful restore, kept after a rollback (or with --keep-safety). What is left is listed by
 * `status` and pruned after the daily retention; empty folders go at once.
 */
import { readdir, rm, rmdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { SAFETY_FOLDER } from './sets';

export interface KeptSafetySnapshot {
  restoreId: string;
  stores: string[];
  modified: Date;
}

/** Removes `.safety/<restoreId>/` when no store's snapshot is left in it. */
export async function removeSafetyFolderIfEmpty(backupDir: string, restoreId: string): Promise<void> {
  try {
    await rmdir(join(backupDir, SAFETY_FOLDER, restoreId));
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code !== 'ENOTEMPTY' && code !== 'ENOENT' && code !== 'EEXIST') throw error;
  }
}

/** Every restore's folder under `.safety/` with the stores it still holds. */
export async function listSafetySnapshots(backupDir: string): Promise<KeptSafetySnapshot[]> {
  let ids: string[];
  try {
    ids = await readdir(join(backupDir, SAFETY_FOLDER));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
  const kept: KeptSafetySnapshot[] = [];
  for (const restoreId of ids.sort()) {
    const dir = join(backupDir, SAFETY_FOLDER, restoreId);
    const info = await stat(dir);
    if (!info.isDirectory()) continue;
    kept.push({ restoreId, stores: (await readdir(dir)).sort(), modified: info.mtime });
  }
  return kept;
}

/** Removes empty restore folders, and those last changed more than `days` before `now`; the ids removed. */
export async function pruneSafetySnapshots(backupDir: string, days: number, now: Date): Promise<string[]> {
  const removed: string[] = [];
  for (const snapshot of await listSafetySnapshots(backupDir)) {
    const expired = now.getTime() - snapshot.modified.getTime() > days * 86_400_000;
    if (snapshot.stores.length > 0 && !expired) continue;
    await rm(join(backupDir, SAFETY_FOLDER, snapshot.restoreId), { recursive: true, force: true });
    removed.push(snapshot.restoreId);
  }
  return removed;
}
