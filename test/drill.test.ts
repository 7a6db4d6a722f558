/**
 * Side-by-side restores and restore drills, end to end: real PostgreSQL and Redis, the Qdrant STAND-IN
 * of test/support/qdrant-standin (no Qdrant server can run here), a real Temporal dev server, the
 * worker and the CLI.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { WorkflowFailedError, type WorkflowHandle } from '@temporalio/client';
import { CancelledFailure } from '@temporalio/common';
import { Client } from 'pg';
import type { AuditEntry } from '../core/contract';
import { DRILLS_FILE, type DrillResult } from '../core/drills';
import { freePort } from '../devstack/ports';
import { seedQdrant } from '../devstack/seed';
import { qdrantFingerprint, redisDifferences, redisFingerprint, tableChecksums } from './support/fingerprints';
import { startQdrantStandIn, type QdrantStandIn } from './support/qdrant-standin';
import { addBulkTable, seedStores, TEST_SCALE } from './support/scholaria';
import { environmentFor, runCli, startStores, startWorker, temporalClient, type RunningWorker, type Stores } from './support/stack';

let stores: Stores;
let standIn: QdrantStandIn;
let worker: RunningWorker;
let env: Record<string, string>;
let metricsPort: number;

async function sql<T extends Record<string, unknown>>(url: string, text: string): Promise<T[]> {
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<T>(text)).rows;
  } finally {
    await client.end();
  }
}

async function databases(): Promise<string[]> {
  return (await sql<{ datname: string }>(stores.postgres.url(), 'SELECT datname FROM pg_database ORDER BY 1')).map((row) => row.datname);
}

async function fingerprint() {
  return { tables: await tableChecksums(stores.databaseUrl), keys: await redisFingerprint(stores.redis.url), qdrant: await qdrantFingerprint(standIn.url) };
}

async function assertUnchanged(before: Awaited<ReturnType<typeof fingerprint>>): Promise<void> {
  const now = await fingerprint();
  assert.deepEqual(now.tables, before.tables);
  // TTLs only count down meanwhile.
  assert.deepEqual(redisDifferences(before.keys, now.keys, 600), []);
  assert.deepEqual(now.qdrant, before.qdrant);
}

/** redis-server processes started from this suite's folders (the drill's private server runs from BACKUP_DIR/.tmp). */
function ourRedisServers(): string[] {
  return readdirSync('/proc')
    .filter((pid) => /^\d+$/.test(pid))
    .map((pid) => {
      try {
        return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
      } catch {
        return '';
      }
    })
    .filter((command) => command.includes('redis-server') && command.includes(env.BACKUP_DIR!));
}

/** Nothing of a drill is left: no scratch database, no drill collection or alias, no private redis-server. */
async function assertNothingLeft(): Promise<void> {
  assert.deepEqual((await databases()).filter((name) => name.startsWith('scholaria_drill_')), []);
  const qdrant = await qdrantFingerprint(standIn.url);
  assert.deepEqual(Object.keys(qdrant.collections).filter((name) => name.startsWith('drill_')), []);
  assert.deepEqual(JSON.stringify(qdrant.aliases).match(/drill_/g), null);
  assert.deepEqual(ourRedisServers(), []);
}

function withoutMetrics(environment: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(environment).filter(([name]) => name !== 'BACKUP_METRICS_PORT'));
}

function jsonLines<T>(file: string): T[] {
  return readFileSync(join(env.LOG_DIR!, file), 'utf8').trim().split('\n').map((line) => JSON.parse(line) as T);
}

const drills = () => jsonLines<DrillResult>(DRILLS_FILE);
const audits = () => jsonLines<AuditEntry>('audit.jsonl').filter((entry) => entry.event === 'drill');

/** Waits until `activity` of the run is pending (running or about to). */
async function waitForActivity(handle: WorkflowHandle, activity: string): Promise<void> {
  const deadline = Date.now() + 120_000;
  while (Date.now() < deadline) {
    const description = await handle.describe();
    if ((description.raw.pendingActivities ?? []).some((pending) => pending.activityType?.name === activity)) return;
    if (description.status.name !== 'RUNNING') assert.fail(`the drill ended (${description.status.name}) before ${activity} started`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  assert.fail(`${activity} never started`);
}

before(async () => {
  stores = await startStores('drill');
  standIn = await startQdrantStandIn({ dataDir: join(stores.dir, 'qdrant-standin') });
  await seedStores(stores);
  await seedQdrant(standIn.url, TEST_SCALE);
  metricsPort = await freePort();
  env = environmentFor(stores, { QDRANT_URL: standIn.url, BACKUP_COMPONENTS: 'postgres,redis,qdrant', BACKUP_METRICS_PORT: String(metricsPort) });
  worker = await startWorker(env);
  const backup = await runCli(['backup', '--tier', 'daily'], env);
  assert.equal(backup.code, 0, backup.stderr + backup.stdout);
});

after(async () => {
  await worker?.stop();
  await standIn?.stop();
  await stores?.stop();
});

test('restore --as-database restores PostgreSQL beside the live database, which keeps every row; an existing name is refused', async () => {
  const atBackup = await tableChecksums(stores.databaseUrl);
  await sql(stores.databaseUrl, "DELETE FROM chunks WHERE id % 3 = 0; UPDATE users SET display_name = 'lost' WHERE id = 1");
  const live = await fingerprint();
  const result = await runCli(['restore', 'latest', '--component', 'postgres', '--as-database', 'scholaria_recovered'], env);
  assert.equal(result.code, 0, result.stderr + result.stdout);
  assert.match(result.stdout, /PostgreSQL: restored/);
  assert.match(result.stdout, /restored into scholaria_recovered beside scholaria, which was not touched/);
  await assertUnchanged(live);
  assert.deepEqual(await tableChecksums(stores.postgres.url('scholaria_recovered')), atBackup, 'the side-by-side copy holds the set');

  const databasesBefore = await databases();
  const refused = await runCli(['restore', 'latest', '--component', 'postgres', '--as-database', 'scholaria_recovered'], env);
  assert.equal(refused.code, 1);
  assert.match(refused.stderr, /^scholaria-backup: restore .* failed: the restore cannot start: PostgreSQL: database scholaria_recovered already exists; choose a new name/);
  assert.equal(refused.stderr.trim().split('\n').length, 1);
  const live2 = await runCli(['restore', 'latest', '--component', 'postgres', '--as-database', 'scholaria'], env);
  assert.equal(live2.code, 1);
  assert.match(live2.stderr, /database scholaria already exists/);
  const wrong = await runCli(['restore', 'latest', '--as-database', 'scholaria_x'], env);
  assert.equal(wrong.code, 1);
  assert.match(wrong.stderr, /^scholaria-backup: --as-database restores PostgreSQL only: add --component postgres$/m);
  assert.deepEqual(await databases(), databasesBefore);
  await assertUnchanged(live);
  await sql(stores.postgres.url(), 'DROP DATABASE scholaria_recovered');
});

test('a drill of a good three-store set passes, records RTO and RPO, leaves nothing behind and does not touch production', async () => {
  const before = await fingerprint();
  const result = await runCli(['drill', 'latest', '--tier', 'daily'], env);
  assert.equal(result.code, 0, result.stderr + result.stdout);
  assert.match(result.stdout, /Drill of scholaria_backup_\d+_\d+ \(daily\): passed/);
  assert.match(result.stdout, /RTO [\d.]+ s, RPO .* \(within the schedule's 24 h 0 min\)/);
  assert.match(result.stdout, /PostgreSQL: passed \(database scholaria_drill_\d+_\d+\)/);
  assert.match(result.stdout, /Redis: passed \(a private redis-server \(pid \d+\), stopped after the count\)/);
  assert.match(result.stdout, /Qdrant: passed \(collections drill_\d+_\d+_\* on the production Qdrant server\)/);
  assert.match(result.stdout, /removed: database scholaria_drill_/);
  assert.match(result.stdout, /removed: .*alias drill_\d+_\d+_chunks_current.*collection drill_\d+_\d+_scholaria_chunks/);
  await assertUnchanged(before);
  await assertNothingLeft();
  const [recorded] = drills();
  assert.equal(recorded!.outcome, 'passed');
  assert.equal(recorded!.tier, 'daily');
  assert.ok(recorded!.rtoSeconds !== undefined && recorded!.rtoSeconds >= 0 && recorded!.rtoSeconds < 600, `RTO ${recorded!.rtoSeconds}`);
  assert.ok(recorded!.rpoSeconds >= 0 && recorded!.rpoSeconds < 3600, `RPO ${recorded!.rpoSeconds}`);
  assert.equal(recorded!.rpoTargetSeconds, 86_400);
  assert.deepEqual(Object.values(recorded!.stores).map((store) => store.status), ['passed', 'passed', 'passed']);
  assert.deepEqual(audits().map((entry) => [entry.outcome, entry.set]), [['passed', recorded!.set]]);
});

test('health-check fails with the fix when the last successful drill is too old, and is content while it is recent', async () => {
  type Health = { checks: { name: string; ok: boolean; detail: string; fix?: string }[] };
  const drillCheck = async (overrides: Record<string, string>) => {
    const result = await runCli(['health-check', '--json'], { ...env, ...overrides });
    return (JSON.parse(result.stdout) as Health).checks.find((check) => check.name === 'recent drill')!;
  };
  const recent = await drillCheck({});
  assert.equal(recent.ok, true, recent.detail);
  assert.match(recent.detail, /^scholaria_backup_\d+_\d+ drilled .* ago, RTO \d+ s, RPO /);
  // The drill of the previous test is seconds old; a limit of about a second makes it too old.
  await new Promise((resolve) => setTimeout(resolve, 1500));
  const stale = await drillCheck({ BACKUP_DRILL_MAX_AGE_DAYS: '0.00001' });
  assert.equal(stale.ok, false);
  assert.match(stale.detail, /^the last successful drill \(scholaria_backup_\d+_\d+\) ran .* ago; the limit is BACKUP_DRILL_MAX_AGE_DAYS=0\.00001$/);
  assert.match(stale.fix!, /run `scholaria-backup drill latest` now/);
});

test('DRILL_CHECKS_SQL: a query returning false fails the drill, naming the query; nothing is left behind', async () => {
  const checks = join(stores.dir, 'drill-checks.sql');
  writeFileSync(checks, "-- the application's own idea of a good restore\nSELECT count(*) > 0 FROM users;\nSELECT count(*) > 0 FROM topics;\nSELECT count(*) > 1000000 FROM chunks;\n");
  // A second worker of its own, without the metrics port the first one holds.
  const checkedEnv = { ...withoutMetrics(env), DRILL_CHECKS_SQL: checks, TEMPORAL_TASK_QUEUE: `${env.TEMPORAL_TASK_QUEUE}-checks` };
  const checkedWorker = await startWorker(checkedEnv);
  try {
    const before = await fingerprint();
    const result = await runCli(['drill', 'latest', '--component', 'postgres'], checkedEnv);
    assert.equal(result.code, 1, result.stdout);
    assert.match(result.stderr, /drill check failed: SELECT count\(\*\) > 1000000 FROM chunks \(returned false, not true\)/);
    assert.match(result.stdout, /✓ SELECT count\(\*\) > 0 FROM users/);
    assert.match(result.stdout, /✖ SELECT count\(\*\) > 1000000 FROM chunks/);
    await assertUnchanged(before);
    await assertNothingLeft();
    assert.equal(drills().at(-1)!.outcome, 'failed');
    assert.equal(audits().at(-1)!.outcome, 'failed');
  } finally {
    await checkedWorker.stop();
  }
});

test('a drill cancelled from Temporal in the middle of its restore removes its scratch targets', async () => {
  await addBulkTable(stores.databaseUrl, 30);
  const backup = await runCli(['backup', '--tier', 'manual'], env);
  assert.equal(backup.code, 0, backup.stderr + backup.stdout);
  const before = await fingerprint();
  const client = await temporalClient();
  try {
    const handle = await client.workflow.start('drillWorkflow', {
      workflowId: `drill-cancel-${Date.now()}`,
      taskQueue: env.TEMPORAL_TASK_QUEUE!,
      args: [{ reference: 'latest', requestedBy: 'test@cancel' }],
    });
    // Any moment of the restore into the scratch targets: a heartbeat naming pg_restore may reach the server only after it ended.
    await waitForActivity(handle, 'restoreIntoScratch');
    await handle.cancel();
    await assert.rejects(handle.result(), (error: unknown) => error instanceof WorkflowFailedError && error.cause instanceof CancelledFailure);
    await assertUnchanged(before);
    await assertNothingLeft();
    assert.equal(drills().at(-1)!.outcome, 'cancelled');
    assert.equal(audits().at(-1)!.outcome, 'cancelled');
  } finally {
    await client.connection.close();
  }
});

test('a set whose custom dump was truncated, with its checksums rewritten to match, fails the drill with a clear reason and leaves nothing behind', async () => {
  const set = readdirSync(env.BACKUP_DIR!).filter((name) => name.startsWith('scholaria_backup_')).sort().at(-1)!;
  const dir = join(env.BACKUP_DIR!, set);
  const file = readdirSync(dir).find((name) => name.endsWith('.sql.custom'))!;
  const bytes = readFileSync(join(dir, file));
  const truncated = bytes.subarray(0, Math.floor(bytes.length / 2));
  writeFileSync(join(dir, file), truncated);
  const sha256 = createHash('sha256').update(truncated).digest('hex');
  const sums = readFileSync(join(dir, 'SHA256SUMS'), 'utf8').replace(new RegExp(`^[0-9a-f]{64}(\\s+\\*?${file})$`, 'm'), `${sha256}$1`);
  writeFileSync(join(dir, 'SHA256SUMS'), sums);
  const manifest = JSON.parse(readFileSync(join(dir, 'backup_manifest.json'), 'utf8')) as { stores: { postgres: { files: { name: string }[] } } };
  for (const entry of manifest.stores.postgres.files) if (entry.name === file) Object.assign(entry, { bytes: truncated.length, sha256 });
  writeFileSync(join(dir, 'backup_manifest.json'), JSON.stringify(manifest, null, 2));

  const before = await fingerprint();
  const result = await runCli(['drill', set], env);
  assert.equal(result.code, 1, result.stdout);
  assert.match(result.stderr, new RegExp(`^scholaria-backup: drill drill-${set}-\\S+ failed: drill of ${set} failed: .*${file.replace(/\./g, '\\.')}`));
  assert.equal(result.stderr.trim().split('\n').length, 1);
  await assertUnchanged(before);
  await assertNothingLeft();
  assert.equal(drills().at(-1)!.outcome, 'failed');
});

test('the worker serves /metrics: Temporal SDK metrics, the newest complete set per tier, the last drill per tier, failed runs by kind', async () => {
  const response = await fetch(`http://127.0.0.1:${metricsPort}/metrics`);
  assert.equal(response.status, 200);
  const page = await response.text();
  const value = (name: string, labels: string): number => {
    const line = page.split('\n').find((candidate) => candidate.startsWith(`${name}{${labels}} `));
    assert.ok(line, `${name}{${labels}} is missing from /metrics`);
    return Number(line.split(' ').at(-1));
  };
  assert.match(page, /^temporal_\w+/m, 'the SDK metrics are served too');

  const sets = readdirSync(env.BACKUP_DIR!).filter((name) => name.startsWith('scholaria_backup_')).sort();
  const manifests = sets.map((name) => JSON.parse(readFileSync(join(env.BACKUP_DIR!, name, 'backup_manifest.json'), 'utf8')) as { tier: string; finishedAt: string; startedAt: string; stores: Record<string, { files: { bytes: number }[] }> });
  const daily = manifests.filter((manifest) => manifest.tier === 'daily').at(-1)!;
  assert.equal(value('scholaria_backup_last_complete_set_timestamp_seconds', 'tier="daily"'), Date.parse(daily.finishedAt) / 1000);
  assert.equal(value('scholaria_backup_last_complete_set_duration_seconds', 'tier="daily"'), (Date.parse(daily.finishedAt) - Date.parse(daily.startedAt)) / 1000);
  for (const store of ['postgres', 'redis', 'qdrant']) {
    assert.equal(value('scholaria_backup_last_complete_set_bytes', `tier="daily",store="${store}"`), daily.stores[store]!.files.reduce((sum, file) => sum + file.bytes, 0));
  }

  const recorded = drills();
  const lastDaily = recorded.filter((drill) => drill.tier === 'daily').at(-1)!;
  const passedDaily = recorded.filter((drill) => drill.tier === 'daily' && drill.outcome === 'passed').at(-1)!;
  assert.equal(value('scholaria_backup_last_drill_timestamp_seconds', 'tier="daily"'), Date.parse(lastDaily.startedAt) / 1000);
  assert.equal(value('scholaria_backup_last_drill_success', 'tier="daily"'), lastDaily.outcome === 'passed' ? 1 : 0);
  assert.equal(value('scholaria_backup_last_successful_drill_timestamp_seconds', 'tier="daily"'), Date.parse(passedDaily.startedAt) / 1000);
  assert.equal(value('scholaria_backup_last_drill_rpo_seconds', 'tier="daily"'), lastDaily.rpoSeconds);
  assert.equal(value('scholaria_backup_last_drill_rpo_seconds', 'tier="manual"'), recorded.filter((drill) => drill.tier === 'manual').at(-1)!.rpoSeconds);
  // The failed drills of this file: the SQL check and the truncated dump (the cancelled one is not a failure).
  assert.equal(value('scholaria_backup_failed_runs_total', 'kind="drill"'), recorded.filter((drill) => drill.outcome === 'failed').length);
  assert.ok(recorded.filter((drill) => drill.outcome === 'failed').length >= 2);
});
