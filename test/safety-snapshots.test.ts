import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { loadConfig } from '../core/config';
import { release } from '../activities/redis/safety';
import { pruneSets } from '../activities/repository/prune';
import { listSafetySnapshots } from '../activities/repository/safety-snapshots';
import { scratchDir } from './support/stack';

test('a released restore leaves no empty .safety/<id>/ folder behind', async () => {
  const backupDir = scratchDir('safety-release');
  try {
    mkdirSync(join(backupDir, '.safety', '20260101_000000', 'redis'), { recursive: true });
    writeFileSync(join(backupDir, '.safety', '20260101_000000', 'redis', 'dump.rdb.zst'), 'x');
    const safety = { description: 'an RDB', references: {} };
    await release(loadConfig({ BACKUP_DIR: backupDir }), { restoreId: '20260101_000000', keep: false, safety });
    assert.deepEqual(readdirSync(join(backupDir, '.safety')), []);
  } finally {
    rmSync(backupDir, { recursive: true, force: true });
  }
});

test('prune removes empty safety folders and kept snapshots older than the daily retention, and keeps recent ones', async () => {
  const backupDir = scratchDir('safety-prune');
  try {
    const make = (id: string, store?: string, ageDays = 0) => {
      const dir = join(backupDir, '.safety', id);
      mkdirSync(store ? join(dir, store) : dir, { recursive: true });
      if (store) writeFileSync(join(dir, store, 'snapshot'), 'x');
      const at = new Date(Date.now() - ageDays * 86_400_000);
      utimesSync(dir, at, at);
    };
    make('20260101_000000');
    make('20260102_000000', 'redis', 10);
    make('20260103_000000', 'postgres', 1);
    assert.deepEqual((await listSafetySnapshots(backupDir)).map((kept) => [kept.restoreId, kept.stores]), [
      ['20260101_000000', []],
      ['20260102_000000', ['redis']],
      ['20260103_000000', ['postgres']],
    ]);
    await pruneSets(backupDir, { days: { daily: 7, weekly: 30, monthly: 365 } }, new Date(), { apply: true });
    assert.deepEqual(readdirSync(join(backupDir, '.safety')), ['20260103_000000']);
    assert.ok(existsSync(join(backupDir, '.safety', '20260103_000000', 'postgres', 'snapshot')));
  } finally {
    rmSync(backupDir, { recursive: true, force: true });
  }
});
