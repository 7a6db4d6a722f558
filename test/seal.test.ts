import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, openSync, readdirSync, rmSync, writeFileSync, writeSync, closeSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { TOOL } from '../activities/package-version';
import { sealSet, setDirectory, stageSet } from '../activities/repository/sets';
import { REDIS_FILE_ROLE } from '../activities/redis/set-files';
import type { SealSetInput } from '../core/contract';
import { writeChildOutput } from '../activities/data-file-streams';
import { ChecksumMismatch } from '../activities/repository/errors';
import { scratchDir } from './support/stack';

test('a seal retried after the worker died past its rename reports the set this run sealed, and seals nothing twice', async () => {
  const backupDir = scratchDir('seal');
  try {
    const set = await stageSet(backupDir, 'daily', new Date('2026-11-30T05:00:00Z'));
    const content = 'REDIS0011 not really an RDB, only bytes to seal';
    const name = `redis_${set.stamp}.rdb`;
    writeFileSync(join(setDirectory(backupDir, set.name, 'staging'), name), content);
    const file = { name, bytes: content.length, sha256: createHash('sha256').update(content).digest('hex'), role: REDIS_FILE_ROLE };
    const input: SealSetInput = {
      set,
      stores: { redis: { status: 'ok', serverVersion: '7.0.15', files: [file], summary: { unit: 'keys', counts: { db0: 0 } }, checks: ['read to its end'], notes: [], phases: [] } },
      startedAt: '2026-11-30T05:00:00.000Z',
      workflow: { id: 'backup-daily-20261130T050000Z', runId: 'run-1' },
    };
    const first = await sealSet(backupDir, input, TOOL);
    assert.equal(first.status, 'complete');
    const again = await sealSet(backupDir, input, TOOL);
    assert.deepEqual(again, first);
    assert.deepEqual(readdirSync(backupDir).filter((entry) => entry.startsWith('scholaria_backup_')), [set.name]);
    assert.ok(existsSync(join(first.path, 'SHA256SUMS')));
    // Another run's seal of a folder it did not stage is not taken for its own.
    await assert.rejects(sealSet(backupDir, { ...input, workflow: { id: 'other', runId: 'run-2' } }, TOOL));
  } finally {
    rmSync(backupDir, { recursive: true, force: true });
  }
});

test('a file changed after it was written and hashed, even in place and to the same size, fails the seal', async () => {
  const backupDir = scratchDir('seal-changed');
  try {
    const set = await stageSet(backupDir, 'daily', new Date('2026-11-30T06:00:00Z'));
    const staging = setDirectory(backupDir, set.name, 'staging');
    const name = `redis_${set.stamp}.rdb.zst`;
    const plaintext = join(backupDir, 'plaintext');
    writeFileSync(plaintext, 'REDIS0011 '.repeat(10_000));
    const written = await writeChildOutput({ path: plaintext }, join(staging, name), { compression: { algorithm: 'zstd', level: 3 }, recipients: [] });
    const input: SealSetInput = {
      set,
      stores: { redis: { status: 'ok', serverVersion: '7.0.15', files: [{ name, ...written, role: REDIS_FILE_ROLE }], summary: { unit: 'keys', counts: { db0: 0 } }, checks: ['read to its end'], notes: [], phases: [] } },
      startedAt: '2026-11-30T06:00:00.000Z',
      workflow: { id: 'backup-daily-20261130T060000Z', runId: 'run-1' },
    };
    // One byte in the middle of the file, through a descriptor that keeps its inode and size.
    const descriptor = openSync(join(staging, name), 'r+');
    writeSync(descriptor, Buffer.from([0xff]), 0, 1, Math.floor(written.bytes / 2));
    closeSync(descriptor);
    await assert.rejects(sealSet(backupDir, input, TOOL), (error: Error) => error instanceof ChecksumMismatch && /sha256 .* on disk, .* recorded/.test(error.message));
    assert.deepEqual(readdirSync(backupDir).filter((entry) => entry.startsWith('scholaria_backup_')), [], 'nothing was sealed');
  } finally {
    rmSync(backupDir, { recursive: true, force: true });
  }
});
