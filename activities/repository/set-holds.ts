/**
 * Holds: a run that reads a set (a restore, a verify, a drill) holds it from the moment it resolves
 * the set, so retention, which runs under the backup lock that restores do not take, cannot delete
 * the files the run is reading. A hold is a file, BACKUP_DIR/.holds/<set>/<workflow id>, and lasts
 * HOLD_LEASE from when it was taken: no run reads a set that long, and a run that vanished (a
 * terminated workflow) cannot keep a set forever.
 *
 * Resolving and deleting cannot miss each other: a run writes its hold and then checks that the set is
 * still there; retention first moves the set out of sight (one rename) and then looks for holds,
 * moving it back when it finds one.
 */
import { mkdir, readdir, readFile, rename, rm, rmdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { isSetName } from '../../core/set-names';
import { fileModes } from '../file-modes';
import { exists } from './sets';

export const HOLDS_FOLDER = '.holds';
/** Long enough for any read of a set, short enough that a vanished run frees it by the next day's prune. */
export const HOLD_LEASE_MS = 24 * 60 * 60 * 1000;

export interface SetHold {
  workflowId: string;
  since: string;
}

function holdPath(backupDir: string, setName: string, workflowId: string): string {
  return join(backupDir, HOLDS_FOLDER, setName, encodeURIComponent(workflowId));
}

/** Records that `workflowId` reads `setName` from `now` on. */
export async function holdSet(backupDir: string, setName: string, workflowId: string, now: Date): Promise<void> {
  const { directory, file } = fileModes();
  await mkdir(join(backupDir, HOLDS_FOLDER, setName), { recursive: true, mode: directory });
  const hold: SetHold = { workflowId, since: now.toISOString() };
  await writeFile(holdPath(backupDir, setName, workflowId), `${JSON.stringify(hold)}\n`, { mode: file });
}

/** The newest hold on `setName` that has not lapsed at `now`, if any. */
export async function currentHold(backupDir: string, setName: string, now: Date): Promise<SetHold | undefined> {
  const holds = await holdsOn(backupDir, setName);
  return holds.filter((hold) => !lapsed(hold, now)).sort((a, b) => b.since.localeCompare(a.since))[0];
}

/** Removes the holds that lapsed at `now`, and the folders of sets no longer held. */
export async function removeLapsedHolds(backupDir: string, now: Date): Promise<void> {
  const root = join(backupDir, HOLDS_FOLDER);
  const sets = await readdir(root).catch(() => []);
  for (const setName of sets.filter(isSetName)) {
    const holds = await holdsOn(backupDir, setName);
    for (const hold of holds.filter((candidate) => lapsed(candidate, now))) await rm(holdPath(backupDir, setName, hold.workflowId), { force: true });
    // Not recursive: a hold a run writes at this moment keeps its folder.
    await rmdir(join(root, setName)).catch(() => undefined);
  }
}

async function holdsOn(backupDir: string, setName: string): Promise<SetHold[]> {
  const folder = join(backupDir, HOLDS_FOLDER, setName);
  const files = await readdir(folder).catch(() => []);
  const holds = await Promise.all(
    files.map(async (file): Promise<SetHold> => {
      const text = await readFile(join(folder, file), 'utf8').catch(() => '');
      try {
        return JSON.parse(text) as SetHold;
      } catch {
        // A hold cut short by a crash while it was written still holds, from when its file was made.
        const made = await stat(join(folder, file)).then((info) => info.mtime, () => new Date(0));
        return { workflowId: decodeURIComponent(file), since: made.toISOString() };
      }
    }),
  );
  return holds;
}

function lapsed(hold: SetHold, now: Date): boolean {
  const since = Date.parse(hold.since);
  return Number.isNaN(since) || now.getTime() - since > HOLD_LEASE_MS;
}

/**
 * Deletes a set retention gave up, unless a run holds it: the set is first renamed out of sight, so a
 * run resolving it now either wrote its hold before (found here: the set is put back) or finds it gone.
 * Returns the hold that kept it, if one did.
 */
export async function deleteUnlessHeld(backupDir: string, setName: string, now: Date): Promise<SetHold | undefined> {
  const path = join(backupDir, setName);
  const outOfSight = join(backupDir, `${PRUNING_PREFIX}${setName}`);
  await rename(path, outOfSight);
  const hold = await currentHold(backupDir, setName, now);
  if (hold) {
    await rename(outOfSight, path);
    return hold;
  }
  await rm(outOfSight, { recursive: true, force: true });
  return undefined;
}

/** A set being deleted by retention, for a moment. */
const PRUNING_PREFIX = '.pruning-';

/**
 * Puts back sets a crash left out of sight in the middle of a deletion: the next prune decides them
 * again, with the holds of that moment.
 */
export async function restoreInterruptedDeletions(backupDir: string): Promise<void> {
  const names = await readdir(backupDir).catch(() => []);
  for (const name of names) {
    const setName = name.slice(PRUNING_PREFIX.length);
    if (!name.startsWith(PRUNING_PREFIX) || !isSetName(setName) || (await exists(join(backupDir, setName)))) continue;
    await rename(join(backupDir, name), join(backupDir, setName));
  }
}
