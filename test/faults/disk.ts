/**
 * BACKUP_DIR full and read-only, on a small tmpfs mounted as BACKUP_DIR (we run as root; where the
 * mount is refused, the rows say so). Full: a backup that does not fit ends failed or partial naming
 * the disk, leaves nothing staged and no complete set, and the next backup after space is freed
 * succeeds; a restore whose safety snapshot cannot be written is refused before any store is touched.
 * Read-only: a backup fails at once with a clear error, without retrying, and writes nothing.
 * Runnable alone: `scripts/node.sh --import tsx test/faults/disk.ts`.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, rmSync, statfsSync } from 'node:fs';
import { join } from 'node:path';
import { redisDifferences, redisFingerprint, tableChecksums } from '../support/fingerprints';
import {
  caseRow,
  commonProblems,
  lastLine,
  logRow,
  manifestOf,
  rowOf,
  runFaultEntry,
  runIdOf,
  setsIn,
  staged,
  startFaultStack,
  type FaultRow,
  type FaultStack,
} from '../support/fault-stack';
import { runCli } from '../support/stack';

const SIZE = '20m';

/** Mounts a tmpfs of SIZE at `dir`; the reason when the machine refuses. */
function mountTmpfs(dir: string): string | undefined {
  mkdirSync(dir, { recursive: true });
  const mounted = spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${SIZE},mode=0755`, 'tmpfs', dir], { encoding: 'utf8' });
  return mounted.status === 0 ? undefined : `mount -t tmpfs refused: ${(mounted.stderr || mounted.error?.message || '').trim()}`;
}

function unmount(dir: string): void {
  spawnSync('umount', ['-l', dir]);
}

/** Fills the disk holding `dir` until `leave` bytes remain free. */
function fillUntil(dir: string, leave: number): string {
  const filler = join(dir, 'filler');
  const { bavail, bsize } = statfsSync(dir);
  const size = Math.max(0, bavail * bsize - leave);
  const filled = spawnSync('fallocate', ['-l', String(size), filler], { encoding: 'utf8' });
  if (filled.status !== 0) throw new Error(`fallocate failed: ${filled.stderr}`);
  return filler;
}

function bytesOf(path: string): number {
  return Number(spawnSync('du', ['-sb', path], { encoding: 'utf8' }).stdout.split('\t')[0]);
}

function remount(dir: string, mode: 'ro' | 'rw'): void {
  const result = spawnSync('mount', ['-o', `remount,${mode}`, dir], { encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`remount ${mode} failed: ${result.stderr}`);
}

export interface DiskStack {
  stack: FaultStack;
  /** The tmpfs mounted as BACKUP_DIR. */
  backupDir: string;
  close(): Promise<number[]>;
}

/** A stack whose BACKUP_DIR is a fresh tmpfs, with a worker and one complete set; the reason when the mount is refused. */
export async function startDiskStack(): Promise<DiskStack | { refused: string }> {
  const stack = await startFaultStack('disk');
  const backupDir = join(stack.stores.dir, 'backup-tmpfs');
  const refused = mountTmpfs(backupDir);
  if (refused) {
    await stack.stop();
    return { refused };
  }
  stack.env.BACKUP_DIR = backupDir;
  stack.startWorker();
  const first = await stack.backup();
  if (first.code !== 0) throw new Error(`the first backup failed: ${lastLine(first)}`);
  return {
    stack,
    backupDir,
    close: async () => {
      const left = await stack.stopWorkers();
      unmount(backupDir);
      await stack.stop();
      return left;
    },
  };
}

const FULL = 'BACKUP_DIR full (tmpfs 20 MiB)';
const READ_ONLY = 'BACKUP_DIR read-only (tmpfs remounted ro)';

/** A backup that does not fit; then the next backup once space is freed. */
export function backupIntoFullDisk({ stack, backupDir }: DiskStack): Promise<FaultRow> {
  const where = 'backup: the dumps do not fit';
  return caseRow(FULL, where, async () => {
    const before = setsIn(backupDir);
    const setBytes = bytesOf(join(backupDir, before.at(-1)!));
    const filler = fillUntil(backupDir, Math.floor(setBytes / 3));
    const started = Date.now();
    const full = await stack.backup();
    const seconds = Math.round((Date.now() - started) / 1000);
    const problems: string[] = [];
    const added = setsIn(backupDir).filter((name) => !before.includes(name));
    let run = `exit ${full.code} after ${seconds} s: ${lastLine(full)}`;
    if (full.code === 0) problems.push('the backup into a full disk succeeded');
    if (!/disk is full/i.test(full.stderr + full.stdout)) problems.push('the reason does not say the disk is full');
    if (added.some((name) => manifestOf(backupDir, name).status === 'complete')) problems.push('a complete set was sealed');
    if (staged(backupDir).length > 0) problems.push(`.partial/ holds ${staged(backupDir).join(', ')} after the failed run`);
    rmSync(filler);
    const freed = await stack.backup();
    run += `; after freeing space: exit ${freed.code}`;
    if (freed.code !== 0) problems.push(`the backup after space was freed failed: ${lastLine(freed)}`);
    problems.push(...(await commonProblems(stack, before, [full, freed].map((result) => runIdOf(result) ?? ''))));
    return rowOf(FULL, where, run, problems);
  });
}

/** A restore whose safety snapshot does not fit: refused before any store changes. */
export function restoreOntoFullDisk({ stack, backupDir }: DiskStack): Promise<FaultRow> {
  const where = 'restore: the safety snapshot does not fit';
  return caseRow(FULL, where, async () => {
    const before = setsIn(backupDir);
    // The stores change after the backup, so a restore that went ahead would show.
    spawnSync('psql', [stack.stores.databaseUrl, '-qc', 'create table after_backup (x int); insert into after_backup values (1)']);
    spawnSync('redis-cli', ['-u', stack.stores.redis.url, 'set', 'after-backup', '1']);
    const tables = await tableChecksums(stack.stores.databaseUrl);
    const keys = await redisFingerprint(stack.stores.redis.url);
    const filler = fillUntil(backupDir, 4096);
    const restore = await runCli(['restore', 'latest', '--yes'], stack.env, 300_000);
    stack.outputs.push(restore);
    rmSync(filler);
    const problems: string[] = [];
    const run = `exit ${restore.code}: ${lastLine(restore)}`;
    if (restore.code === 0) problems.push('the restore went ahead');
    if (!/bytes free|disk is full/i.test(restore.stderr + restore.stdout)) problems.push('the reason does not name the full disk');
    if (JSON.stringify(await tableChecksums(stack.stores.databaseUrl)) !== JSON.stringify(tables)) problems.push('PostgreSQL changed');
    const redisChanges = redisDifferences(keys, await redisFingerprint(stack.stores.redis.url), 60);
    if (redisChanges.length > 0) problems.push(`Redis changed: ${redisChanges.slice(0, 3).join('; ')}`);
    problems.push(...(await commonProblems(stack, before, [runIdOf(restore) ?? ''])));
    return rowOf(FULL, where, run, problems);
  });
}

/** A backup into a read-only BACKUP_DIR: a clear error at once, no retries, nothing written. */
export function backupIntoReadOnlyDir({ stack, backupDir }: DiskStack): Promise<FaultRow> {
  const where = 'backup: BACKUP_DIR cannot be written';
  return caseRow(READ_ONLY, where, async () => {
    const before = setsIn(backupDir);
    remount(backupDir, 'ro');
    const started = Date.now();
    const refused = await stack.backup().finally(() => remount(backupDir, 'rw'));
    const seconds = Math.round((Date.now() - started) / 1000);
    const problems: string[] = [];
    const run = `exit ${refused.code} after ${seconds} s: ${lastLine(refused)}`;
    if (refused.code === 0) problems.push('the backup succeeded');
    if (!/not writable \(EROFS\)/.test(refused.stderr)) problems.push('the reason does not say BACKUP_DIR cannot be written');
    if (seconds > 30) problems.push(`it took ${seconds} s: retried`);
    if (setsIn(backupDir).join() !== before.join()) problems.push('the set list changed');
    problems.push(...(await commonProblems(stack, before, [runIdOf(refused) ?? ''])));
    return rowOf(READ_ONLY, where, run, problems);
  });
}

export const DISK_CASES = [backupIntoFullDisk, restoreOntoFullDisk, backupIntoReadOnlyDir];

export async function diskFaults(): Promise<FaultRow[]> {
  const disk = await startDiskStack();
  if ('refused' in disk) return DISK_CASES.map((diskCase) => rowOf(diskCase === backupIntoReadOnlyDir ? READ_ONLY : FULL, diskCase.name, disk.refused, ['not run: no tmpfs']));
  const rows: FaultRow[] = [];
  try {
    for (const diskCase of DISK_CASES) {
      const row = await diskCase(disk);
      logRow(row);
      rows.push(row);
    }
  } finally {
    const left = await disk.close();
    if (left.length > 0) rows.push(rowOf('worker stopped', 'after the disk cases', 'SIGTERM', [`children left running: ${left.join(',')}`]));
  }
  return rows;
}

if (require.main === module) runFaultEntry('Faults: BACKUP_DIR full and read-only', diskFaults);
