/**
 * The workflows alone, the Temporal way: the real workflow code (the suite's bundle) on a worker whose
 * activities are mocks scripted per test, so every branch of the restore saga and of the backup runs in
 * seconds: each step failing, cancellation at each step, which rollbacks run and what the result says.
 *
 * The time-skipping test server (`TestWorkflowEnvironment.createTimeSkipping`) is downloaded from
 * temporal.download at first use, which this offline machine cannot reach; these tests run on the
 * suite's dev server instead (`createFromExistingServer`, TEST_TEMPORAL_ADDRESS). Nothing here waits
 * on a timer, so time skipping would not make them faster.
 */
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, test } from 'node:test';
import { Context } from '@temporalio/activity';
import { WorkflowFailedError, type Client } from '@temporalio/client';
import { ApplicationFailure, CancelledFailure, TemporalFailure } from '@temporalio/common';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import type { Activities } from '../activities';
import { createBackupLockActivities } from '../activities/backup-lock';
import type { AuditEntry, Notification, OffsiteActivities, ResolvedSet, SetDecryption, StoreAdapter } from '../core/contract';
import type { ContentSummary, FileEntry, Manifest, StoreRecord } from '../core/manifest';
import { storeActivitiesOf } from '../core/store-activities';
import type { StoreName } from '../core/stores';
import type { BackupWorkflowInput, BackupWorkflowResult, RestoreWorkflowInput, RestoreWorkflowResult, Workflows } from '../core/workflow-types';
import { temporalAddress } from './support/stack';

/** What a test makes the activities do: activity steps (`<verb>:<store>` or the activity name) that fail, or block until cancelled. */
interface Script {
  fail?: readonly string[];
  /** Fails with this failure type instead of `TestFailure`. */
  failType?: string;
  /** Blocks (heartbeating) until the run cancels it. */
  block?: string;
  /** The blocked step, once cancelled, fails with its own error (as an adapter whose child process was killed does). */
  stopFails?: boolean;
  /** Stores whose target holds something else after the restore. */
  mismatch?: readonly StoreName[];
  /** Stores whose preflight finds a reason not to start. */
  preflightProblem?: readonly StoreName[];
  /** Steps that wait until another step has been reached before they run (to order parallel stores). */
  after?: Record<string, string>;
  /** The set is age-encrypted; `identity` says what the worker holds to open it. */
  encrypted?: { identity: 'present' | 'missing' };
}

let script: Script = {};
let calls: string[] = [];
let audits: AuditEntry[] = [];
let notifications: Notification[] = [];
const reached = new Map<string, () => void>();
const reachedPromises = new Map<string, Promise<void>>();

function reachedPromise(step: string): Promise<void> {
  let promise = reachedPromises.get(step);
  if (!promise) {
    promise = new Promise((resolve) => reached.set(step, resolve));
    reachedPromises.set(step, promise);
  }
  return promise;
}

beforeEach(() => {
  script = {};
  calls = [];
  audits = [];
  notifications = [];
  reached.clear();
  reachedPromises.clear();
});

/** One scripted activity step: recorded, then failing, blocking or doing `work` as the script says. */
function step<A extends unknown[], R>(name: string, work: (...args: A) => Promise<R>): (...args: A) => Promise<R> {
  return async (...args: A) => {
    const waitFor = script.after?.[name];
    if (waitFor) await reachedPromise(waitFor);
    calls.push(name);
    reachedPromise(name);
    reached.get(name)!();
    if (script.block === name) {
      const context = Context.current();
      const beat = setInterval(() => context.heartbeat(), 100);
      try {
        await (script.stopFails ? context.cancelled.catch(() => undefined) : context.cancelled);
      } finally {
        clearInterval(beat);
      }
    }
    if (script.fail?.includes(name) || (script.stopFails && script.block === name)) throw ApplicationFailure.nonRetryable(`${name} broke`, script.failType ?? 'TestFailure');
    return work(...args);
  };
}

const SUMMARIES: Record<StoreName, ContentSummary> = {
  postgres: { unit: 'rows', counts: { 'public.users': 3 } },
  redis: { unit: 'keys', counts: { db0: 5 } },
  qdrant: { unit: 'points', counts: { chunks: 7 } },
};

function fileOf(store: StoreName): FileEntry {
  return { name: `${store}.dump`, bytes: 10, sha256: 'a'.repeat(64), role: 'dump' };
}

function adapterOf(store: StoreName): StoreAdapter {
  const at = (verb: string) => `${verb}:${store}`;
  return {
    probe: step(at('probe'), async () => ({ serverVersion: '1', details: [] })),
    backup: step(at('backup'), async () => ({ serverVersion: '1', files: [fileOf(store)], summary: SUMMARIES[store], checks: [`${store} read back`], notes: [], phases: [] })),
    verify: step(at('verify'), async () => ({ checks: [`${store} deep check`], summary: SUMMARIES[store] })),
    preflight: step(at('preflight'), async () => ({
      problems: script.preflightProblem?.includes(store) ? [`${store} server too old`] : [],
      current: SUMMARIES[store],
      details: [],
      plan: [`replace ${store}`],
    })),
    safetySnapshot: step(at('safetySnapshot'), async () => ({ description: `${store} safety snapshot`, references: {} })),
    stage: step(at('stage'), async () => ({ staged: store === 'postgres', details: store === 'postgres' ? [`${store} staged`] : [] })),
    restore: step(at('restore'), async () => ({ details: [`${store} restored`] })),
    summarize: step(at('summarize'), async () => (script.mismatch?.includes(store) ? { ...SUMMARIES[store], counts: { other: 1 } } : SUMMARIES[store])),
    rollback: step(at('rollback'), async () => undefined),
    release: step(at('release'), async () => undefined),
  };
}

function manifestOf(stores: readonly StoreName[]): Manifest {
  const records: Partial<Record<StoreName, StoreRecord>> = {};
  for (const store of stores) {
    records[store] = { status: 'ok', serverVersion: '1', files: [fileOf(store)], summary: SUMMARIES[store], checks: ['read back'], notes: [], phases: [] };
  }
  return {
    schema: 'scholaria-backup/manifest',
    version: 1,
    name: 'scholaria_backup_20260301_020000',
    tier: 'daily',
    status: 'complete',
    startedAt: '2026-03-01T02:00:00.000Z',
    finishedAt: '2026-03-01T02:01:00.000Z',
    tool: { name: 'scholaria-backup', version: 'test' },
    workflow: { id: 'backup-daily-test', runId: 'run' },
    stores: records,
  };
}

const mockActivities: Activities = {
  ...storeActivitiesOf({ postgres: adapterOf('postgres'), redis: adapterOf('redis'), qdrant: adapterOf('qdrant') }),
  prepareBackupSet: step('prepareBackupSet', async ({ tier }) => ({ name: 'scholaria_backup_20260301_020000', stamp: '20260301_020000', tier })),
  sealBackupSet: step('sealBackupSet', async ({ set, stores }) => ({
    name: set.name,
    path: `/backups/${set.name}`,
    status: Object.values(stores).every((record) => record?.status === 'ok') ? 'complete' : 'partial',
    bytes: 10,
    bytesPerStore: {},
  })),
  discardStagedSet: step('discardStagedSet', async () => undefined),
  resolveBackupSet: step('resolveBackupSet', async (): Promise<ResolvedSet> => ({
    name: 'scholaria_backup_20260301_020000',
    path: '/backups/scholaria_backup_20260301_020000',
    manifest: {
      ...manifestOf(['postgres', 'redis']),
      ...(script.encrypted ? { encryption: { format: 'age' as const, recipients: ['age1recipient'] } } : {}),
    },
  })),
  requireSetIdentity: step('requireSetIdentity', async () => {
    if (script.encrypted?.identity === 'missing') throw ApplicationFailure.nonRetryable('postgres.dump.age is encrypted with age; set BACKUP_ENCRYPTION_IDENTITY_FILE', 'EncryptionIdentityMissing');
  }),
  checkSetDecrypts: step('checkSetDecrypts', async ({ identityRequired }): Promise<SetDecryption> => {
    if (script.encrypted?.identity !== 'missing') return { encrypted: true, opened: true, checks: ['postgres.dump.age: decrypted to its end'] };
    if (identityRequired) throw ApplicationFailure.nonRetryable('no identity', 'EncryptionIdentityMissing');
    return { encrypted: true, opened: false, reason: 'postgres.dump.age is encrypted with age; set BACKUP_ENCRYPTION_IDENTITY_FILE' };
  }),
  verifySetChecksums: step('verifySetChecksums', async () => ({ filesChecked: 2, bytesChecked: 20 })),
  applyRetention: step('applyRetention', async () => ({ deleted: [], overdue: [] })),
  pruneBackupSets: step('pruneBackupSets', async () => ({ decisions: [], deleted: [] })),
  recordAudit: step('recordAudit', async (entry) => {
    audits.push(entry);
  }),
  inspectBackupDir: step('inspectBackupDir', async () => ({ writable: { ok: true }, anomalies: [] })),
  notify: step('notify', async (notification) => {
    notifications.push(notification);
    return [];
  }),
  // The real request: a signalWithStart of the lock workflow through the worker's client.
  ...createBackupLockActivities(),
  findDrillSet: step('findDrillSet', async () => ({ name: 'scholaria_backup_20260301_020000' })),
  restoreIntoScratch: step('restoreIntoScratch', async ({ store }) => ({ target: `scratch ${store}`, summary: SUMMARIES[store], details: [] })),
  runDrillChecks: step('runDrillChecks', async () => []),
  removeScratch: step('removeScratch', async ({ store }) => [`scratch ${store}`]),
  recordDrill: step('recordDrill', async () => undefined),
  // One worker polls both queues here: its own queue is the suite's, unless a test names another.
  bindRunToWorker: step('bindRunToWorker', async () => ({ taskQueue: ownQueue ?? taskQueue })),
  ...offsiteNotUsed(),
};

/** These runs have no bucket (bindRunToWorker names none): an offsite step reached here is a defect. */
function offsiteNotUsed(): OffsiteActivities {
  const refuse = (name: string) => async (): Promise<never> => {
    throw new Error(`${name} was called without offsite storage`);
  };
  return {
    copySetOffsite: refuse('copySetOffsite'),
    abandonOffsiteCopy: refuse('abandonOffsiteCopy'),
    listOffsiteSets: refuse('listOffsiteSets'),
    verifyOffsiteSet: refuse('verifyOffsiteSet'),
    downloadOffsiteSet: refuse('downloadOffsiteSet'),
    deleteOffsiteSet: refuse('deleteOffsiteSet'),
    syncOffsite: refuse('syncOffsite'),
    applyOffsiteRetention: refuse('applyOffsiteRetention'),
  };
}

let env: TestWorkflowEnvironment;
let worker: Worker;
let running: Promise<void>;
let client: Client;
const taskQueue = `workflow-tests-${process.pid}`;
/** The queue bindRunToWorker names, when a test gives the run a worker of its own. */
let ownQueue: string | undefined;
let runs = 0;

before(async () => {
  env = await TestWorkflowEnvironment.createFromExistingServer({ address: temporalAddress() });
  client = env.client;
  const bundle = process.env.BACKUP_WORKFLOW_BUNDLE;
  worker = await Worker.create({
    connection: env.nativeConnection,
    taskQueue,
    ...(bundle ? { workflowBundle: { codePath: bundle } } : { workflowsPath: require.resolve('../workflows') }),
    activities: mockActivities,
  });
  running = worker.run();
});

after(async () => {
  worker?.shutdown();
  await running;
  await env?.teardown();
});

function start<K extends 'backupWorkflow' | 'restoreWorkflow' | 'verifyWorkflow' | 'drillWorkflow'>(type: K, input: Parameters<Workflows[K]>[0]) {
  runs += 1;
  return client.workflow.start<Workflows[K]>(type, { taskQueue, workflowId: `${type}-${process.pid}-${runs}`, args: [input] as Parameters<Workflows[K]> });
}

/** The failure at the bottom of a failed run. */
function rootOf(error: unknown): Error {
  let current = error;
  while ((current instanceof WorkflowFailedError || current instanceof TemporalFailure) && current.cause) current = current.cause;
  return current as Error;
}

async function failureOf(result: Promise<unknown>): Promise<WorkflowFailedError> {
  const error = await result.then(
    () => undefined,
    (failure: unknown) => failure,
  );
  assert.ok(error instanceof WorkflowFailedError, `the run must fail, got ${String(error)}`);
  return error;
}

function detailsOf<T>(error: WorkflowFailedError): T {
  return (error.cause as ApplicationFailure).details?.[0] as T;
}

const RESTORE: RestoreWorkflowInput = { reference: 'latest', components: ['postgres'], dryRun: false, force: false, keepSafety: false, requestedBy: 'tester@host' };
const BOTH: RestoreWorkflowInput = { ...RESTORE, components: ['postgres', 'redis'] };

describe('restore saga', () => {
  test('success: snapshot, restore, check, then the safety snapshot is released; audited and notified', async () => {
    const result = await (await start('restoreWorkflow', BOTH)).result();
    assert.equal(result.stores.postgres?.status, 'restored');
    assert.equal(result.stores.redis?.status, 'restored');
    assert.ok(calls.includes('release:postgres') && calls.includes('release:redis'));
    assert.ok(!calls.some((call) => call.startsWith('rollback:')));
    assert.equal(audits.at(-1)?.outcome, 'restored');
    assert.equal(notifications.at(-1)?.outcome, 'succeeded');
  });

  test('a step that timed out before it started, its worker then answering, is scheduled again: the restore completes', async () => {
    // Nobody polls the run's own queue for the first minute: its first step times out before it starts,
    // as when Temporal loses a task handed to a live worker. Then the worker is there and answers.
    ownQueue = `${taskQueue}-own-${runs}`;
    const own = await Worker.create({ connection: env.nativeConnection, taskQueue: ownQueue, activities: mockActivities });
    let timer: NodeJS.Timeout | undefined;
    let late: Promise<void> | undefined;
    try {
      const handle = await start('restoreWorkflow', RESTORE);
      late = new Promise<void>((resolve) => (timer = setTimeout(resolve, 62_000))).then(() => own.run());
      const result = await handle.result();
      assert.equal(result.stores.postgres?.status, 'restored');
      const events = (await handle.fetchHistory()).events ?? [];
      const timedOut = events.filter((event) => event.activityTaskTimedOutEventAttributes);
      assert.equal(timedOut.length, 1, 'one step timed out before it started');
      const asked = events.filter((event) => event.activityTaskScheduledEventAttributes?.activityType?.name === 'bindRunToWorker');
      assert.equal(asked.length, 2, 'the run was bound, then its worker asked whether it is there');
    } finally {
      clearTimeout(timer);
      ownQueue = undefined;
      if (own.getState() === 'RUNNING') {
        own.shutdown();
        await late;
      }
    }
  });

  test('dry run: stops after the preflight with the plan; nothing is touched', async () => {
    const result = await (await start('restoreWorkflow', { ...BOTH, dryRun: true })).result();
    assert.equal(result.stores.postgres?.status, 'planned');
    assert.deepEqual(result.stores.redis?.plan.plan, ['replace redis']);
    assert.ok(!calls.some((call) => /^(safetySnapshot|restore|rollback|release):/.test(call)));
    assert.equal(audits.at(-1)?.outcome, 'dry run');
  });

  test('the deep checks run beside the safety snapshots and the stage; no store is restored before they all pass and every store staged', async () => {
    // verify:redis starts only once PostgreSQL is staging: with the checks first, this run could not end.
    script = { after: { 'verify:redis': 'stage:postgres' } };
    const result = await (await start('restoreWorkflow', BOTH)).result();
    assert.equal(result.stores.postgres?.status, 'restored');
    const restores = ['restore:postgres', 'restore:redis'].map((call) => calls.indexOf(call));
    const ready = ['verify:redis', 'stage:postgres', 'stage:redis'].map((call) => calls.indexOf(call));
    assert.ok(ready.every((index) => index >= 0) && Math.min(...restores) > Math.max(...ready), calls.join(' '));
    assert.ok(!calls.includes('verify:postgres'), `PostgreSQL's stage is its deep check: ${calls.join(' ')}`);
    assert.ok(result.checks.includes('redis deep check'), result.checks.join('; '));
    assert.ok(result.stores.postgres?.details.includes('postgres staged'));
  });

  test('a side-by-side restore stages nothing, so PostgreSQL gets its own deep check', async () => {
    const result = await (await start('restoreWorkflow', { ...RESTORE, asDatabase: 'scholaria_copy' })).result();
    assert.equal(result.stores.postgres?.status, 'restored');
    assert.ok(calls.indexOf('verify:postgres') >= 0 && calls.indexOf('verify:postgres') < calls.indexOf('restore:postgres'), calls.join(' '));
  });

  test('a deep check fails while PostgreSQL is staged: no store is restored, the staged copy is removed, the snapshots released', async () => {
    script = { fail: ['verify:redis'], after: { 'verify:redis': 'stage:postgres' } };
    const error = await failureOf((await start('restoreWorkflow', BOTH)).result());
    assert.match(rootOf(error).message, /verify:redis broke/);
    assert.ok(!calls.some((call) => call.startsWith('restore:')), calls.join(' '));
    const stores = detailsOf<RestoreWorkflowResult>(error).stores;
    assert.equal(stores.postgres?.status, 'untouched');
    assert.equal(stores.redis?.status, 'untouched');
    assert.ok(stores.postgres?.details.includes('the staged restore was removed; the target was not touched'), stores.postgres?.details.join('; '));
    assert.ok(calls.includes('rollback:postgres') && !calls.includes('rollback:redis'), calls.join(' '));
    assert.ok(calls.includes('release:redis'), calls.join(' '));
    assert.match(audits.at(-1)!.outcome, /^failed: /, 'nothing live was changed, so nothing is said to be rolled back');
  });

  test('a deep check fails during a long stage: the stage is stopped at once and the run fails with the check\'s reason', async () => {
    script = { block: 'stage:postgres', fail: ['verify:redis'], after: { 'verify:redis': 'stage:postgres' } };
    const error = await failureOf((await start('restoreWorkflow', BOTH)).result());
    assert.equal((error.cause as ApplicationFailure).type, 'RestoreFailed');
    assert.match(rootOf(error).message, /verify:redis broke/);
    assert.ok(!calls.some((call) => call.startsWith('restore:')), calls.join(' '));
    const stores = detailsOf<RestoreWorkflowResult>(error).stores;
    assert.deepEqual([stores.postgres?.status, stores.redis?.status], ['untouched', 'untouched']);
    assert.ok(calls.includes('release:postgres') && calls.includes('release:redis'), calls.join(' '));
    assert.match(audits.at(-1)!.outcome, /^failed: .*verify:redis broke/);
  });

  for (const failing of ['resolveBackupSet', 'verifySetChecksums']) {
    test(`${failing} fails: nothing is touched, nothing rolled back, the failure names it`, async () => {
      script = { fail: [failing] };
      const error = await failureOf((await start('restoreWorkflow', RESTORE)).result());
      assert.match(rootOf(error).message, new RegExp(`${failing} broke`));
      assert.ok(!calls.some((call) => /^(safetySnapshot|restore|rollback):/.test(call)));
      assert.match(audits.at(-1)!.outcome, /^failed: /);
      assert.equal(notifications.at(-1)?.outcome, 'failed');
    });
  }

  test('the preflight finds a problem: PreflightFailed with every store untouched and the reason', async () => {
    script = { preflightProblem: ['redis'] };
    const error = await failureOf((await start('restoreWorkflow', BOTH)).result());
    assert.equal((error.cause as ApplicationFailure).type, 'PreflightFailed');
    assert.match(rootOf(error).message, /Redis: redis server too old/);
    const details = detailsOf<RestoreWorkflowResult>(error);
    assert.equal(details.stores.postgres?.status, 'untouched');
    assert.ok(!calls.some((call) => /^(safetySnapshot|restore|rollback):/.test(call)));
  });

  test('the safety snapshot fails: the store failed, nothing to roll back', async () => {
    script = { fail: ['safetySnapshot:postgres'] };
    const error = await failureOf((await start('restoreWorkflow', RESTORE)).result());
    assert.equal((error.cause as ApplicationFailure).type, 'RestoreFailed');
    const details = detailsOf<RestoreWorkflowResult>(error);
    assert.equal(details.stores.postgres?.status, 'failed');
    assert.ok(!calls.includes('restore:postgres') && !calls.includes('rollback:postgres'));
    assert.match(audits.at(-1)!.outcome, /^failed: safetySnapshot:postgres broke/, 'nothing was changed, so nothing is said to be rolled back');
  });

  for (const [failing, script_] of [
    ['restore:postgres', { fail: ['restore:postgres'] }],
    ['summarize:postgres', { fail: ['summarize:postgres'] }],
    ['the content check', { mismatch: ['postgres'] }],
  ] as const) {
    test(`${failing} fails: the store is rolled back to its safety snapshot, and the result says so`, async () => {
      script = { ...script_ };
      const error = await failureOf((await start('restoreWorkflow', RESTORE)).result());
      assert.equal((error.cause as ApplicationFailure).type, 'RestoreFailed');
      const report = detailsOf<RestoreWorkflowResult>(error).stores.postgres!;
      assert.equal(report.status, 'failed');
      assert.ok(report.details.includes('rolled back: postgres safety snapshot'));
      assert.ok(report.details.includes('its partial changes were rolled back'));
      assert.ok(calls.includes('rollback:postgres'));
      assert.ok(!calls.includes('release:postgres'), 'a rolled-back store keeps nothing to release');
      assert.equal(audits.at(-1)?.outcome, 'failed, rolled back');
      assert.equal(notifications.at(-1)?.outcome, 'rolled back');
    });
  }

  test('one store fails while the other restores: the other is stopped, and both are rolled back', async () => {
    script = { block: 'restore:postgres', fail: ['restore:redis'], after: { 'restore:redis': 'restore:postgres' } };
    const error = await failureOf((await start('restoreWorkflow', BOTH)).result());
    const stores = detailsOf<RestoreWorkflowResult>(error).stores;
    assert.equal(stores.redis?.status, 'failed');
    assert.equal(stores.postgres?.status, 'rolled back');
    assert.ok(calls.includes('rollback:postgres') && calls.includes('rollback:redis'));
    assert.match(rootOf(error).message, /restore:redis broke \(PostgreSQL rolled back, Redis failed\)/);
  });

  test('the rollback fails too: rollback failed, the safety snapshot is kept, and the result says where', async () => {
    script = { fail: ['restore:postgres', 'rollback:postgres'] };
    const error = await failureOf((await start('restoreWorkflow', RESTORE)).result());
    const report = detailsOf<RestoreWorkflowResult>(error).stores.postgres!;
    assert.equal(report.status, 'rollback failed');
    assert.match(report.rollbackError!, /rollback:postgres broke; the safety snapshot is kept: postgres safety snapshot/);
  });

  test('the release fails after success: the restore still succeeds, and says the snapshot could not be removed', async () => {
    script = { fail: ['release:postgres'] };
    const result = await (await start('restoreWorkflow', RESTORE)).result();
    assert.equal(result.stores.postgres?.status, 'restored');
    assert.ok(result.stores.postgres?.details.some((detail) => /the safety snapshot could not be removed: release:postgres broke/.test(detail)));
  });

  for (const [blocked, rolledBack] of [
    ['resolveBackupSet', false],
    ['verifySetChecksums', false],
    ['preflight:postgres', false],
    ['safetySnapshot:postgres', false],
    ['restore:postgres', true],
    ['summarize:postgres', true],
  ] as const) {
    test(`cancelled during ${blocked}: ${rolledBack ? 'the store is rolled back' : 'nothing to roll back'}; audited and notified`, async () => {
      script = { block: blocked };
      const handle = await start('restoreWorkflow', RESTORE);
      await reachedPromise(blocked);
      await handle.cancel();
      const error = await failureOf(handle.result());
      assert.ok(error.cause instanceof CancelledFailure, `cancelled, got ${String(error.cause)}`);
      assert.equal(calls.includes('rollback:postgres'), rolledBack);
      assert.ok(!calls.includes('release:postgres'));
      assert.equal(audits.length, 1, 'the audit entry is written despite the cancellation');
      assert.equal(audits[0]!.outcome, rolledBack ? 'cancelled, rolled back' : 'cancelled');
      if (RESTORE.dryRun === false) assert.match(notifications.at(-1)!.title, /was cancelled/);
    });
  }
});

const BACKUP: BackupWorkflowInput = { tier: 'daily', components: ['postgres', 'redis'], requestedBy: 'tester@host' };

describe('encrypted sets', () => {
  test('restore on a worker without identity: refused before the checksums, nothing touched, audited as failed', async () => {
    script = { encrypted: { identity: 'missing' } };
    const failure = await failureOf((await start('restoreWorkflow', RESTORE)).result());
    assert.equal((rootOf(failure) as ApplicationFailure).type, 'EncryptionIdentityMissing');
    assert.match(rootOf(failure).message, /BACKUP_ENCRYPTION_IDENTITY_FILE/);
    assert.ok(!calls.includes('verifySetChecksums'), calls.join(' '));
    assert.ok(!calls.some((call) => /^(preflight|safetySnapshot|restore):/.test(call)), calls.join(' '));
    assert.equal(audits.length, 1);
    assert.match(audits[0]!.outcome, /^failed: .*BACKUP_ENCRYPTION_IDENTITY_FILE/);
  });

  test('restore with the identity: every file is decrypted after the checksums and before the preflight', async () => {
    script = { encrypted: { identity: 'present' } };
    const result = await (await start('restoreWorkflow', RESTORE)).result();
    assert.ok(result.checks.includes('postgres.dump.age: decrypted to its end'));
    const order = ['requireSetIdentity', 'verifySetChecksums', 'checkSetDecrypts', 'preflight:postgres'].map((name) => calls.indexOf(name));
    assert.deepEqual([...order].sort((a, b) => a - b), order, calls.join(' '));
    assert.ok(order.every((index) => index >= 0), calls.join(' '));
  });

  test('verify on a worker without identity: checksums pass, the result says the deep checks need the identity; audited', async () => {
    script = { encrypted: { identity: 'missing' } };
    const result = await (await start('verifyWorkflow', { reference: 'latest', requestedBy: 'tester@host' })).result();
    assert.equal(result.filesChecked, 2);
    assert.match(result.notChecked?.[0] ?? '', /deep checks .* need BACKUP_ENCRYPTION_IDENTITY_FILE/);
    assert.ok(!calls.some((call) => call.startsWith('verify:')), calls.join(' '));
    assert.deepEqual(audits.map((entry) => [entry.event, entry.by, entry.set, entry.outcome]), [['verify', 'tester@host', 'scholaria_backup_20260301_020000', 'verified checksums only']]);
  });

  test('verify --deep on a worker without identity fails, naming the variable', async () => {
    script = { encrypted: { identity: 'missing' } };
    const failure = await failureOf((await start('verifyWorkflow', { reference: 'latest', deep: true, requestedBy: 'tester@host' })).result());
    assert.equal((rootOf(failure) as ApplicationFailure).type, 'EncryptionIdentityMissing');
    assert.match(audits[0]?.outcome ?? '', /^failed/);
  });
});

describe('backup', () => {
  test('success: both stores backed up, the set sealed complete, retention applied; audited and notified', async () => {
    const result: BackupWorkflowResult = await (await start('backupWorkflow', BACKUP)).result();
    assert.equal(result.set.status, 'complete');
    assert.deepEqual(Object.keys(result.stores), ['postgres', 'redis']);
    assert.ok(calls.includes('sealBackupSet') && calls.includes('applyRetention') && !calls.includes('discardStagedSet'));
    assert.deepEqual([audits.at(-1)?.event, audits.at(-1)?.outcome, audits.at(-1)?.by], ['backup', 'complete', 'tester@host']);
    assert.equal(notifications.at(-1)?.outcome, 'succeeded');
  });

  test('a store fails: the set is sealed partial naming it, the run fails with PartialBackup, retention does not run', async () => {
    script = { fail: ['backup:redis'] };
    const error = await failureOf((await start('backupWorkflow', BACKUP)).result());
    assert.equal((error.cause as ApplicationFailure).type, 'PartialBackup');
    const result = detailsOf<BackupWorkflowResult>(error);
    assert.equal(result.set.status, 'partial');
    assert.equal(result.stores.redis?.status, 'failed');
    assert.match(result.stores.redis?.error ?? '', /Redis: backup:redis broke/);
    assert.ok(!calls.includes('applyRetention'));
    assert.equal(notifications.at(-1)?.outcome, 'partial');
    assert.equal(notifications.at(-1)?.store, 'Redis');
    assert.equal(audits.at(-1)?.outcome, 'partial');
  });

  test('every store fails: no set is sealed, the staged one is discarded, the run fails with each reason; audited and notified', async () => {
    script = { fail: ['backup:postgres', 'backup:redis'] };
    const error = await failureOf((await start('backupWorkflow', BACKUP)).result());
    assert.equal((error.cause as ApplicationFailure).type, 'BackupFailed');
    assert.match(rootOf(error).message, /no store could be backed up, so no set was written: PostgreSQL: backup:postgres broke; Redis: backup:redis broke/);
    assert.ok(!calls.includes('sealBackupSet'));
    assert.ok(calls.includes('discardStagedSet'));
    assert.equal(notifications.at(-1)?.outcome, 'failed');
    assert.match(notifications.at(-1)!.reason!, /no store could be backed up/);
    assert.deepEqual([audits.at(-1)?.outcome, audits.at(-1)?.set], ['failed', undefined]);
  });

  test('every probe fails: nothing is staged at all', async () => {
    script = { fail: ['probe:postgres', 'probe:redis'] };
    const error = await failureOf((await start('backupWorkflow', BACKUP)).result());
    assert.equal((error.cause as ApplicationFailure).type, 'BackupFailed');
    assert.ok(!calls.includes('prepareBackupSet'));
  });

  test('a store refuses the credentials: the run fails at the probe with AuthenticationFailed, nothing staged', async () => {
    script = { fail: ['probe:redis'], failType: 'AuthenticationFailed' };
    const error = await failureOf((await start('backupWorkflow', BACKUP)).result());
    assert.equal((error.cause as ApplicationFailure).type, 'AuthenticationFailed');
    assert.ok(!calls.includes('prepareBackupSet'));
  });

  test('the seal fails: the staged files are discarded and the run fails with the reason', async () => {
    script = { fail: ['sealBackupSet'] };
    const error = await failureOf((await start('backupWorkflow', BACKUP)).result());
    assert.match(rootOf(error).message, /sealBackupSet broke/);
    assert.ok(calls.includes('discardStagedSet'));
    assert.equal(notifications.at(-1)?.outcome, 'failed');
    assert.equal(audits.at(-1)?.outcome, 'failed');
  });

  test('cancelled while the only store backs up, which then fails as stopped: the run ends cancelled, not failed', async () => {
    script = { block: 'backup:postgres', stopFails: true };
    const handle = await start('backupWorkflow', { ...BACKUP, components: ['postgres'] });
    await reachedPromise('backup:postgres');
    await handle.cancel();
    const error = await failureOf(handle.result());
    assert.ok(error.cause instanceof CancelledFailure, `cancelled, got ${String(error.cause)}`);
    assert.ok(calls.includes('discardStagedSet') && !calls.includes('sealBackupSet'));
    assert.equal(audits.at(-1)?.outcome, 'cancelled');
  });

  test('a restore started while a backup runs waits for the backup lock: no store is touched until the backup ended', async () => {
    script = { block: 'backup:postgres' };
    const backup = await start('backupWorkflow', BACKUP);
    await reachedPromise('backup:postgres');
    const restore = await start('restoreWorkflow', BOTH);
    // Long enough for the restore's checks and preflight to run and for it to ask for the lock.
    const deadline = Date.now() + 5000;
    while (!calls.includes('preflight:redis') && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100));
    await new Promise((resolve) => setTimeout(resolve, 1500));
    assert.ok(calls.includes('preflight:redis'), calls.join(' '));
    assert.ok(!calls.some((call) => call.startsWith('safetySnapshot:')), `a store was touched while the backup ran: ${calls.join(' ')}`);
    await backup.cancel();
    await failureOf(backup.result());
    const result = await restore.result();
    assert.deepEqual([result.stores.postgres?.status, result.stores.redis?.status], ['restored', 'restored']);
    const backupEnded = calls.indexOf('discardStagedSet');
    assert.ok(backupEnded >= 0 && calls.findIndex((call) => call.startsWith('safetySnapshot:')) > backupEnded, calls.join(' '));
  });

  test('cancelled while backing up: the staged files are discarded, the lock released, the cancellation audited', async () => {
    script = { block: 'backup:postgres' };
    const handle = await start('backupWorkflow', BACKUP);
    await reachedPromise('backup:postgres');
    await handle.cancel();
    const error = await failureOf(handle.result());
    assert.ok(error.cause instanceof CancelledFailure);
    assert.ok(calls.includes('discardStagedSet'));
    assert.equal(audits.at(-1)?.outcome, 'cancelled');
    // The lock is free again: the next backup runs.
    script = {};
    const next = await (await start('backupWorkflow', BACKUP)).result();
    assert.equal(next.set.status, 'complete');
  });
});

describe('drill workflow', () => {
  const DRILL = { reference: 'latest', requestedBy: 'tester@host' };

  test('a good set passes: every store restored into its scratch target and checked, then every scratch target removed; recorded and audited', async () => {
    const handle = await start('drillWorkflow', DRILL);
    const result = await handle.result();
    assert.equal(result.outcome, 'passed');
    assert.ok(result.rtoSeconds !== undefined);
    assert.deepEqual(calls.filter((call) => call === 'restoreIntoScratch' || call === 'removeScratch'), ['restoreIntoScratch', 'restoreIntoScratch', 'removeScratch', 'removeScratch']);
    assert.ok(calls.indexOf('recordDrill') > calls.lastIndexOf('removeScratch'));
    assert.equal(audits.at(-1)!.event, 'drill');
  });

  test('a scratch restore that fails fails the drill with its reason, and every scratch target is still removed', async () => {
    script = { fail: ['restoreIntoScratch'] };
    const error = await failureOf((await start('drillWorkflow', DRILL)).result());
    assert.match(String(error.cause?.message), /drill of scholaria_backup_20260301_020000 failed: restoreIntoScratch broke/);
    assert.equal(calls.filter((call) => call === 'removeScratch').length, 2);
    assert.equal(audits.at(-1)!.outcome, 'failed');
    assert.equal(notifications.at(-1)!.outcome, 'failed');
  });

  for (const stopFails of [false, true]) {
    test(`cancelled during its restore${stopFails ? ' (the activity reports its own stop)' : ''}: ends cancelled, and every scratch target is removed`, async () => {
      script = { block: 'restoreIntoScratch', stopFails };
      const handle = await start('drillWorkflow', DRILL);
      await reachedPromise('restoreIntoScratch');
      await handle.cancel();
      const error = await failureOf(handle.result());
      assert.ok(error.cause instanceof CancelledFailure, `cancelled, got ${String(error.cause)}`);
      assert.equal(calls.filter((call) => call === 'removeScratch').length, 2);
      assert.equal(audits.at(-1)!.outcome, 'cancelled');
    });
  }
});
