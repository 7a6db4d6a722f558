/**
 * The fast rows of the fault table in `npm test`: BACKUP_DIR full and read-only, on a tmpfs mounted as
 * BACKUP_DIR (test/faults/disk.ts; the full table is `npm run faults` and the file run alone). Where
 * the machine refuses the mount, the tests are skipped and say why.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { backupIntoFullDisk, backupIntoReadOnlyDir, restoreOntoFullDisk, startDiskStack, type DiskStack } from './faults/disk';
import type { FaultRow } from './support/fault-stack';

let disk: DiskStack | undefined;
let refused: string | undefined;

before(async () => {
  const started = await startDiskStack();
  if ('refused' in started) refused = started.refused;
  else disk = started;
});

after(async () => {
  const left = await disk?.close();
  assert.deepEqual(left ?? [], [], 'the worker left no child running');
});

function held(row: FaultRow): void {
  assert.ok(row.ok, `${row.fault} | ${row.where} | ${row.run} | ${row.invariants}`);
}

test('BACKUP_DIR full: the backup ends partial saying the disk is full, nothing staged, and the next one succeeds once space is freed', async (t) => {
  if (!disk) return t.skip(refused);
  held(await backupIntoFullDisk(disk));
});

test('BACKUP_DIR full: a restore whose safety snapshot cannot be written is refused before any store changes', async (t) => {
  if (!disk) return t.skip(refused);
  held(await restoreOntoFullDisk(disk));
});

test('BACKUP_DIR read-only: the backup fails at once naming EROFS, without retrying, and writes nothing', async (t) => {
  if (!disk) return t.skip(refused);
  held(await backupIntoReadOnlyDir(disk));
});
