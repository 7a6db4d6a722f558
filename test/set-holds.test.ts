import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { planRetention } from '../core/retention';
import { deleteUnlessHeld, holdSet, HOLD_LEASE_MS, restoreInterruptedDeletions } from '../activities/repository/set-holds';
import { scratchDir } from './support/stack';

const SET = 'scholaria_backup_20200101_020000';

test('retention keeps a set a run holds, saying which run, and decides it as usual otherwise', () => {
  const old = { name: SET, tier: 'daily' as const, status: 'complete' as const, verified: true };
  const newer = { name: 'scholaria_backup_20260331_020000', tier: 'daily' as const, status: 'complete' as const, verified: true };
  const rules = { days: { daily: 7, weekly: 30, monthly: 365 } };
  const now = new Date('2026-04-01T03:00:00Z');
  assert.equal(planRetention([old, newer], rules, now)[0]!.action, 'delete');
  const [held] = planRetention([{ ...old, heldBy: 'restore-latest-1' }, newer], rules, now);
  assert.equal(held!.action, 'keep');
  assert.match(held!.reason, /^older than the 7-day daily retention, .*; kept while restore-latest-1 reads it$/);
});

test('a deletion that meets a hold puts the set back; without a hold it deletes; a deletion cut by a crash is undone', async () => {
  const backupDir = scratchDir('set-holds');
  try {
    const setDir = join(backupDir, SET);
    mkdirSync(setDir);
    writeFileSync(join(setDir, 'backup_manifest.json'), '{}');
    const now = new Date();
    await holdSet(backupDir, SET, 'verify/one', now);
    assert.deepEqual((await deleteUnlessHeld(backupDir, SET, now))?.workflowId, 'verify/one');
    assert.ok(existsSync(join(setDir, 'backup_manifest.json')), 'the held set is back in place');
    assert.equal(await deleteUnlessHeld(backupDir, SET, new Date(now.getTime() + HOLD_LEASE_MS + 1)), undefined, 'a lapsed hold holds nothing');
    assert.ok(!existsSync(setDir));

    mkdirSync(join(backupDir, `.pruning-${SET}`));
    await restoreInterruptedDeletions(backupDir);
    assert.deepEqual(readdirSync(backupDir).sort(), ['.holds', SET]);
  } finally {
    rmSync(backupDir, { recursive: true, force: true });
  }
});
