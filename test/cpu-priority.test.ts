import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { StoreAdapter } from '../core/contract';
import { runForOutput } from '../activities/child-process';
import { withYieldingChecks } from '../activities/cpu-priority';

/** The niceness of a program as `ps` reports it once it has run a moment (the priority is set just after spawn). */
const niceness = async () => Number((await runForOutput('sh', ['-c', 'sleep 0.3; ps -o ni= -p $$'])).trim());

test('the programs of deep checks and safety snapshots yield the CPU; backups and restores do not', async () => {
  const seen: Record<string, number> = {};
  const record = (verb: string) => async (): Promise<never> => {
    seen[verb] = await niceness();
    throw new Error('not needed: the test reads the niceness only');
  };
  const verbs: StoreAdapter = {
    probe: record('probe'),
    backup: record('backup'),
    verify: record('verify'),
    preflight: record('preflight'),
    safetySnapshot: record('safetySnapshot'),
    stage: record('stage'),
    restore: record('restore'),
    summarize: record('summarize'),
    rollback: record('rollback'),
    release: record('release'),
  };
  const adapter = withYieldingChecks(verbs);
  const own = await niceness();
  const anyInput = {} as never;
  await Promise.allSettled([adapter.backup(anyInput), adapter.verify(anyInput), adapter.safetySnapshot(anyInput), adapter.stage(anyInput), adapter.restore(anyInput)]);
  assert.deepEqual(seen, { backup: own, verify: own + 10, safetySnapshot: own + 10, stage: own, restore: own });
});
