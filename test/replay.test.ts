/**
 * Replays the recorded histories of real runs (test/histories/, written by test/record-histories.ts)
 * against today's workflow code: a change that would break runs in flight (a new activity before an
 * old one, a removed timer, ...) fails here with the run and the command that no longer matches.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { temporal } from '@temporalio/proto';
import { Worker } from '@temporalio/worker';
import type { Workflows } from '../core/workflow-types';

const HISTORIES = join(__dirname, 'histories');

function recorded(): { workflowId: string; type: string; history: temporal.api.history.v1.History }[] {
  return readdirSync(HISTORIES)
    .filter((name) => name.endsWith('.json'))
    .sort()
    .map((name) => {
      const history = temporal.api.history.v1.History.fromObject(JSON.parse(readFileSync(join(HISTORIES, name), 'utf8')));
      const type = history.events?.[0]?.workflowExecutionStartedEventAttributes?.workflowType?.name ?? 'unknown';
      return { workflowId: name, type, history };
    });
}

test('the recorded histories cover every workflow, a restore that rolled back included', () => {
  const histories = recorded();
  const types = new Set(histories.map((entry) => entry.type));
  const every: (keyof Workflows)[] = ['backupWorkflow', 'backupLockWorkflow', 'restoreWorkflow', 'verifyWorkflow', 'healthWorkflow', 'pruneWorkflow', 'notifyWorkflow'];
  assert.deepEqual(every.filter((type) => !types.has(type)), [], 'every workflow has a recorded history');
  const rolledBack = histories.some(
    (entry) => entry.type === 'restoreWorkflow' && entry.history.events?.some((event) => event.activityTaskScheduledEventAttributes?.activityType?.name?.startsWith('rollback')),
  );
  assert.ok(rolledBack, 'a restore that rolled back is among them');
});

test('every recorded history replays on the current workflow code', async () => {
  const bundle = process.env.BACKUP_WORKFLOW_BUNDLE;
  const failures: string[] = [];
  let replayed = 0;
  for await (const result of Worker.runReplayHistories(
    bundle ? { workflowBundle: { codePath: bundle } } : { workflowsPath: require.resolve('../workflows') },
    recorded().map(({ workflowId, history }) => ({ workflowId, history })),
  )) {
    replayed += 1;
    if (result.error) failures.push(`${result.workflowId}: ${result.error.message}`);
  }
  assert.ok(replayed > 0, 'histories were replayed');
  assert.deepEqual(failures, []);
});
