/**
 * What an operator sees in the Temporal Web UI, checked in a real browser: a daily backup and a
 * restore of it that fails in Redis and rolls PostgreSQL back (devstack/ui-run.ts, the same runs
 * `npm run ui:screenshot` takes pictures of), opened in headless Chromium. And the search attributes
 * behind the UI's filters: set on the runs, filterable, registered where a namespace lacks them.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Client, Connection, WorkflowFailedError, type WorkflowExecutionInfo } from '@temporalio/client';
import { msToTs } from '@temporalio/common/lib/time';
import { BACKUP_OUTCOME, BACKUP_SET, BACKUP_TIER, RUN_KIND, SEARCH_ATTRIBUTES, startAttributes, startWithSearchAttributes } from '../core/search-attributes';
import { dumpDom, ensureChromium, makeUiRuns, timelineUrl, type UiRuns } from '../devstack/ui-run';
import { ensureSearchAttributes } from '../worker/register-search-attributes';
import { runCli, temporalAddress } from './support/stack';

const chromium = ensureChromium();
/** Only when Chromium cannot be had: not installed, and not root to install it. */
const noBrowser = 'missing' in chromium ? `skipped: ${chromium.missing}` : false;
let runs: UiRuns;
let client: Client;

before(async () => {
  runs = await makeUiRuns();
  client = new Client({ connection: await Connection.connect({ address: runs.address }), namespace: runs.namespace });
});

after(async () => {
  await client?.connection.close();
  await runs?.stop();
});

function page(url: string): string {
  if ('missing' in chromium) throw new Error(chromium.missing);
  return dumpDom(chromium.path, url, { width: 1600, height: 1400 });
}

function assertShows(dom: string, texts: string[], where: string): void {
  const absent = texts.filter((text) => !dom.includes(text));
  assert.deepEqual(absent, [], `${where} does not show ${absent.join(', ')}`);
}

/** Visibility is eventually consistent: the first runs that match `query`, once there are any. */
async function listed(query: string, atLeast = 1): Promise<WorkflowExecutionInfo[]> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const found: WorkflowExecutionInfo[] = [];
    for await (const run of client.workflow.list({ query })) found.push(run);
    if (found.length >= atLeast || Date.now() > deadline) return found;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

test("the backup's page in the Web UI loads and shows its activities by name, with their runbook summaries", { skip: noBrowser }, () => {
  const timeline = page(timelineUrl(runs.backup.url));
  assertShows(timeline, [runs.backup.workflowId, 'probePostgres', 'backupPostgres', 'probeRedis', 'backupRedis', 'sealBackupSet'], 'the timeline');
  assertShows(timeline, [`Dump PostgreSQL into ${runs.backup.set}`, `Seal ${runs.backup.set}: re-hash every file, write SHA256SUMS and the manifest`], 'the timeline');
  const history = page(runs.backup.url);
  assertShows(history, ['Event History', 'backupPostgres', 'backupRedis', `Dump Redis into ${runs.backup.set}`], 'the event history');
});

test("the failed restore's page shows the failing store's reason in one line, and PostgreSQL rolled back", { skip: noBrowser }, () => {
  const timeline = page(timelineUrl(runs.restore.url));
  assertShows(timeline, [runs.restore.workflowId, 'verifySetChecksums', 'restorePostgres', 'restoreRedis', 'rollbackPostgres', 'rollbackRedis'], 'the timeline');
  assertShows(timeline, ['Roll back PostgreSQL to its safety snapshot', `Restore Redis from ${runs.backup.set}`], 'the timeline');
  assertShows(
    timeline,
    [`restore from ${runs.backup.set} failed: RESTORE into the target failed in db2: NOPERM`, '(PostgreSQL rolled back, Redis failed)'],
    'the failure',
  );
  assertShows(page(runs.restore.url), ['Event History', 'rollbackPostgres', 'restoreRedis'], 'the event history');
});

test('the restore fails with one line naming the store and what was rolled back', async () => {
  const failure = await client.workflow.getHandle(runs.restore.workflowId).result().then(
    () => assert.fail('the restore succeeded'),
    (error: unknown) => error,
  );
  assert.ok(failure instanceof WorkflowFailedError);
  const message = (failure.cause as Error).message;
  assert.doesNotMatch(message, /\n/);
  assert.match(message, /^restore from scholaria_backup_\d{8}_\d{6} failed: RESTORE into the target failed in db2: NOPERM .*\(PostgreSQL rolled back, Redis failed\)$/);
});

test('runs carry kind, tier, set and outcome, and the UI query language filters on them', async () => {
  const backups = await listed(`${BACKUP_TIER.name} = 'daily' AND ${RUN_KIND.name} = 'backup'`);
  assert.deepEqual(backups.map((run) => run.workflowId), [runs.backup.workflowId]);
  const backup = backups[0]!;
  assert.equal(backup.typedSearchAttributes.get(BACKUP_SET), runs.backup.set);
  assert.equal(backup.typedSearchAttributes.get(BACKUP_OUTCOME), 'complete');
  assert.deepEqual(backup.memo, { stores: ['postgres', 'redis'] });

  const rolledBack = await listed(`${RUN_KIND.name} = 'restore' AND ${BACKUP_OUTCOME.name} = 'rolled back'`);
  assert.deepEqual(rolledBack.map((run) => run.workflowId), [runs.restore.workflowId]);
  const restore = rolledBack[0]!;
  assert.equal(restore.typedSearchAttributes.get(BACKUP_SET), runs.backup.set);
  assert.equal(restore.typedSearchAttributes.get(BACKUP_TIER), 'daily', "a restore carries the tier of the set it restores");

  const bySet = await listed(`${BACKUP_SET.name} = '${runs.backup.set}'`, 2);
  assert.deepEqual(bySet.map((run) => run.workflowId).sort(), [runs.backup.workflowId, runs.restore.workflowId].sort());
  assert.equal((await listed(`${BACKUP_OUTCOME.name} = 'running'`, 0)).length, 0, 'no run is left marked running');

  // No secret in what the UI shows about a run.
  for (const run of [backup, restore]) {
    const shown = JSON.stringify({ memo: run.memo, attributes: run.typedSearchAttributes.getAll() });
    assert.doesNotMatch(shown, /restorer-pass|postgresql:\/\/|redis:\/\//);
  }
});

test('scholaria-backup runs lists the runs by kind, tier and outcome, and prints the query for the UI', async () => {
  const json = await runCli(['runs', '--kind', 'restore', '--outcome', 'rolled back', '--json'], runs.env);
  assert.equal(json.code, 0, json.stderr);
  const parsed = JSON.parse(json.stdout) as { query: string; runs: { workflowId: string; tier: string; set: string; outcome: string; url: string }[] };
  assert.equal(parsed.query, "BackupRunKind = 'restore' AND BackupOutcome = 'rolled back'");
  assert.deepEqual(parsed.runs.map((run) => [run.workflowId, run.tier, run.set, run.outcome]), [[runs.restore.workflowId, 'daily', runs.backup.set, 'rolled back']]);
  assert.equal(parsed.runs[0]!.url, runs.restore.url);

  const table = await runCli(['runs', '--tier', 'daily'], runs.env);
  assert.equal(table.code, 0, table.stderr);
  assert.match(table.stdout, new RegExp(`${runs.backup.workflowId} +backup +daily +${runs.backup.set} +complete`));
  assert.match(table.stdout, new RegExp(`${runs.restore.workflowId} +restore +daily +${runs.backup.set} +rolled back`));
  assert.match(table.stdout, /^Query \(also for the Web UI's search box\): BackupRunKind IS NOT NULL AND BackupTier = 'daily'$/m);

  const bad = await runCli(['runs', '--outcome', 'great'], runs.env);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /^scholaria-backup: unknown outcome "great"; choose from running, complete/);
});

test('a namespace that predates the attributes gets them from the worker once; a run started before still starts, without them', async () => {
  const connection = await Connection.connect({ address: temporalAddress() });
  try {
    const fresh = async (name: string) => {
      await connection.workflowService.registerNamespace({ namespace: name, workflowExecutionRetentionPeriod: msToTs('1 day') });
      const deadline = Date.now() + 30_000;
      while ((await connection.workflowService.describeNamespace({ namespace: name }).then(() => true, () => false)) === false) {
        if (Date.now() > deadline) assert.fail(`namespace ${name} never appeared`);
        await new Promise((resolve) => setTimeout(resolve, 250));
      }
      return name;
    };
    const suffix = `${process.pid}-${Date.now().toString(36)}`;

    // Without the attributes, a start with them is refused by the server; the CLI's start goes on without them.
    const bare = await fresh(`scholaria-bare-${suffix}`);
    const bareClient = new Client({ connection, namespace: bare });
    const warnings: string[] = [];
    const handle = await startWithSearchAttributes(
      (typedSearchAttributes) =>
        bareClient.workflow.start('backupWorkflow', { workflowId: `backup-manual-${suffix}`, taskQueue: `nobody-${suffix}`, args: [{ tier: 'manual', components: ['redis'] }], typedSearchAttributes }),
      startAttributes('backup', 'manual'),
      (line) => warnings.push(line),
    );
    assert.equal(warnings.length, 1);
    assert.match(warnings[0]!, /lacks the search attributes BackupRunKind, BackupTier, BackupSet, BackupOutcome .* the run starts without them/);
    assert.equal((await handle.describe()).status.name, 'RUNNING');
    await handle.terminate('test done');

    // The worker's registration adds them, once.
    const first = await ensureSearchAttributes(connection, bare);
    assert.deepEqual(first, { ready: true, added: SEARCH_ATTRIBUTES.map((key) => key.name) });
    assert.deepEqual(await ensureSearchAttributes(connection, bare), { ready: true, added: [] });
    const listedNow = await connection.operatorService.listSearchAttributes({ namespace: bare });
    for (const key of SEARCH_ATTRIBUTES) assert.ok(key.name in (listedNow.customAttributes ?? {}), `${key.name} is registered`);
  } finally {
    await connection.close();
  }
});
