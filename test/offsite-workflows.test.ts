/**
 * Offsite copies end to end: real Temporal dev server, workers, the CLI, PostgreSQL, Redis, the Qdrant
 * stand-in (a double, labelled as such) and a real S3 server (rclone serve s3, or OFFSITE_TEST_URL).
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { GetObjectCommand } from '@aws-sdk/client-s3';
import { Redis } from 'ioredis';
import { Client } from 'pg';
import { seedQdrant } from '../devstack/seed';
import { CHECKSUMS_FILE, MANIFEST_FILE } from '../core/manifest';
import type { BackupWorkflowResult } from '../core/workflow-types';
import { qdrantFingerprint, redisDifferences, redisFingerprint, tableChecksums } from './support/fingerprints';
import { startOffsiteTarget, type OffsiteTarget } from './support/offsite';
import { startQdrantStandIn, type QdrantStandIn } from './support/qdrant-standin';
import { seedStores, TEST_SCALE } from './support/scholaria';
import { CLI, environmentFor, runCli, startStores, startWorker, temporalClient, type RunningWorker, type Stores } from './support/stack';

let stores: Stores;
let target: OffsiteTarget;
let standIn: QdrantStandIn;
let env: Record<string, string>;
const workers: RunningWorker[] = [];
const workerProcesses: ChildProcess[] = [];
const workflowIds: string[] = [];

async function fingerprint() {
  return {
    tables: await tableChecksums(stores.databaseUrl),
    keys: await redisFingerprint(stores.redis.url),
    qdrant: await qdrantFingerprint(standIn.url),
  };
}

async function backup(environment: Record<string, string>): Promise<BackupWorkflowResult & { workflowId: string }> {
  const result = await runCli(['backup', '--tier', 'daily', '--json'], environment);
  assert.equal(result.code, 0, result.stderr + result.stdout);
  const parsed = JSON.parse(result.stdout) as BackupWorkflowResult & { workflowId: string };
  workflowIds.push(parsed.workflowId);
  return parsed;
}

async function objectBytes(key: string): Promise<Buffer> {
  const response = await target.s3.send(new GetObjectCommand({ Bucket: target.bucket, Key: `${target.prefix}/${key}` }));
  return Buffer.from(await response.Body!.transformToByteArray());
}

function filesUnder(dir: string, base = ''): string[] {
  return readdirSync(join(dir, base), { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? filesUnder(dir, join(base, entry.name)) : [join(base, entry.name)],
  );
}

before(async () => {
  stores = await startStores('offsite-workflows');
  target = await startOffsiteTarget();
  standIn = await startQdrantStandIn({ dataDir: join(stores.dir, 'qdrant-standin') });
  await seedStores(stores);
  await seedQdrant(standIn.url, TEST_SCALE);
  env = environmentFor(stores, { ...target.env, QDRANT_URL: standIn.url, BACKUP_COMPONENTS: 'postgres,redis,qdrant' });
  workers.push(await startWorker(env));
});

after(async () => {
  for (const child of workerProcesses) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  for (const worker of workers) await worker.stop().catch(() => undefined);
  await standIn?.stop();
  await target?.remove();
  await stores?.stop();
});

let atBackup: Awaited<ReturnType<typeof fingerprint>>;
let copiedSet: string;

test('backup with offsite on: the bucket holds every file byte-equal, SHA256SUMS holds, the manifest was the last object written', async () => {
  atBackup = await fingerprint();
  const result = await backup(env);
  assert.equal(result.set.status, 'complete');
  assert.equal(result.offsite?.status, 'copied', JSON.stringify(result.offsite));
  copiedSet = result.set.name;
  const local = result.set.path;
  const files = filesUnder(local);
  for (const file of files) {
    const offsite = await objectBytes(`${result.set.name}/${file}`);
    assert.ok(offsite.equals(readFileSync(join(local, file))), `${file} is byte-equal offsite`);
  }
  const sums = (await objectBytes(`${result.set.name}/${CHECKSUMS_FILE}`)).toString('utf8').trim().split('\n');
  for (const line of sums) {
    const [digest, name] = line.split(/\s+\*?/);
    assert.equal(createHash('sha256').update(await objectBytes(`${result.set.name}/${name}`)).digest('hex'), digest, name);
  }
  if (target.server) {
    const folder = join(target.server.dir, target.bucket, target.prefix, result.set.name);
    const written = filesUnder(folder).map((file) => ({ file, at: statSync(join(folder, file)).mtimeMs })).sort((a, b) => a.at - b.at);
    assert.equal(written.at(-1)!.file, MANIFEST_FILE, 'the manifest was written last');
  }
  const listed = await runCli(['list', '--offsite'], env);
  assert.equal(listed.code, 0, listed.stderr);
  assert.match(listed.stdout, new RegExp(`${result.set.name}\\s+daily\\s+complete`));
});

test('verify <set> --offsite: every object read back, then the deep checks of every store on that copy, which is removed', async () => {
  const verified = await runCli(['verify', copiedSet, '--offsite'], env);
  assert.equal(verified.code, 0, verified.stderr + verified.stdout);
  assert.match(verified.stdout, /read back from the bucket, every one matches SHA256SUMS/);
  assert.match(verified.stdout, /pg_restore read the whole archive/, 'the PostgreSQL dump was read by pg_restore');
  const json = JSON.parse((await runCli(['verify', copiedSet, '--offsite', '--json'], env)).stdout) as { set: string; checks?: string[] };
  assert.equal(json.set, copiedSet);
  assert.ok((json.checks ?? []).length >= 3, `a deep check per store: ${JSON.stringify(json.checks)}`);
  assert.deepEqual(stagedIn(env.BACKUP_DIR!), [], 'the copy read back was removed');
});

test('the disaster: BACKUP_DIR gone and the stores damaged; a worker with an empty BACKUP_DIR restores latest from the bucket', async () => {
  rmSync(env.BACKUP_DIR!, { recursive: true, force: true });
  const pg = new Client({ connectionString: stores.databaseUrl });
  await pg.connect();
  await pg.query("DROP TABLE IF EXISTS chunks CASCADE; UPDATE users SET display_name = 'lost'");
  await pg.end();
  const redis = new Redis(stores.redis.url);
  await redis.flushall();
  redis.disconnect();
  await fetch(`${standIn.url}/collections/scholaria_chunks`, { method: 'DELETE' });

  const restored = await runCli(['restore', 'latest', '--yes'], env);
  assert.equal(restored.code, 0, restored.stderr + restored.stdout);
  const now = await fingerprint();
  assert.deepEqual(now.tables, atBackup.tables);
  assert.deepEqual(redisDifferences(atBackup.keys, now.keys, 120), []);
  assert.deepEqual(now.qdrant, atBackup.qdrant);
  assert.ok(readdirSync(env.BACKUP_DIR!).some((name) => name.startsWith('scholaria_backup_')), 'the set was downloaded into BACKUP_DIR');
});

test('offsite server down during the backup: the local set is complete, the run says the copy failed, offsite sync completes it', { skip: !process.env.OFFSITE_TEST_URL ? false : 'needs the private rclone server' }, async () => {
  await target.server!.stop();
  let result: BackupWorkflowResult;
  try {
    result = await backup(env);
  } finally {
    await target.server!.start();
  }
  assert.equal(result.set.status, 'complete');
  assert.equal(result.offsite?.status, 'failed');
  const health = await runCli(['list', '--offsite', '--json'], env);
  assert.equal(health.code, 0, health.stderr);
  assert.ok(!(JSON.parse(health.stdout) as { name: string; status: string }[]).some((set) => set.name === result.set.name && set.status === 'complete'));
  const synced = await runCli(['offsite', 'sync'], env);
  assert.equal(synced.code, 0, synced.stderr + synced.stdout);
  assert.match(synced.stdout, new RegExp(`copied ${result.set.name}`));
  const after = JSON.parse((await runCli(['list', '--offsite', '--json'], env)).stdout) as { name: string; status: string }[];
  assert.equal(after.find((set) => set.name === result.set.name)?.status, 'complete');
});

test('two workers with their own BACKUP_DIRs on one task queue: ten backups, each exactly one complete set, all ten in the bucket', async () => {
  const second = { ...env, BACKUP_DIR: join(stores.dir, 'backup-second-host'), BACKUP_COMPONENTS: 'postgres,redis' };
  workers.push(await startWorker(second));
  const names: string[] = [];
  for (let run = 0; run < 10; run += 1) {
    const result = await backup({ ...env, BACKUP_COMPONENTS: 'postgres,redis' });
    assert.equal(result.set.status, 'complete');
    assert.equal(result.offsite?.status, 'copied');
    names.push(result.set.name);
  }
  const sealed = [env.BACKUP_DIR!, second.BACKUP_DIR].flatMap((dir) => readdirSync(dir).filter((name) => names.includes(name)));
  assert.deepEqual([...sealed].sort(), [...names].sort(), 'each run sealed exactly one set, on one of the two disks');
  for (const dir of [env.BACKUP_DIR!, second.BACKUP_DIR]) {
    const partial = join(dir, '.partial');
    assert.deepEqual(readdirSync(partial, { withFileTypes: true }).filter((entry) => entry.isDirectory()).map((entry) => entry.name), [], `no staged leftovers in ${dir}`);
  }
  const offsite = JSON.parse((await runCli(['list', '--offsite', '--json'], env)).stdout) as { name: string; status: string }[];
  for (const name of names) assert.equal(offsite.find((set) => set.name === name)?.status, 'complete', name);
});

/** A set being staged under `<dir>/.partial/`, if any. */
function stagedIn(dir: string): string[] {
  const partial = join(dir, '.partial');
  return existsSync(partial) ? readdirSync(partial, { withFileTypes: true }).filter((entry) => entry.isDirectory()).map((entry) => entry.name) : [];
}

test('two workers with their own BACKUP_DIRs, the one writing the set killed (SIGKILL) mid-run: the other finishes, one complete set', async () => {
  // Two worker processes of their own on a queue of their own (the in-process workers never see these runs).
  const queue = { ...env, TEMPORAL_TASK_QUEUE: `${env.TEMPORAL_TASK_QUEUE}-kill`, BACKUP_COMPONENTS: 'postgres,redis' };
  const credentials = { AWS_ACCESS_KEY_ID: process.env.AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY: process.env.AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN: process.env.AWS_SESSION_TOKEN };
  const hosts = ['host-a', 'host-b'].map((name) => {
    const environment = { ...queue, BACKUP_DIR: join(stores.dir, `backup-${name}`) };
    const child = spawn(process.execPath, [CLI, 'worker'], { env: { ...environment, ...credentials }, stdio: ['ignore', 'ignore', 'inherit'] });
    workerProcesses.push(child);
    return { dir: environment.BACKUP_DIR, child };
  });
  const offsiteBefore = JSON.parse((await runCli(['list', '--offsite', '--json'], queue)).stdout) as { name: string }[];

  const started = await runCli(['backup', '--tier', 'daily', '--no-wait'], queue);
  assert.equal(started.code, 0, started.stderr);
  const workflowId = started.stdout.trim();
  workflowIds.push(workflowId);
  let writer: (typeof hosts)[number] | undefined;
  for (const deadline = Date.now() + 60_000; !writer && Date.now() < deadline; await new Promise((resolve) => setTimeout(resolve, 20))) {
    writer = hosts.find((host) => stagedIn(host.dir).length > 0);
  }
  assert.ok(writer, 'a worker started staging the set');
  writer.child.kill('SIGKILL');
  await new Promise((resolve) => (writer!.child.exitCode !== null || writer!.child.signalCode !== null ? resolve(null) : writer!.child.once('exit', resolve)));
  assert.deepEqual(readdirSync(writer.dir).filter((name) => name.startsWith('scholaria_backup_')), [], 'killed before the seal');

  const client = await temporalClient();
  let result: BackupWorkflowResult;
  try {
    result = (await client.workflow.getHandle(workflowId).result()) as BackupWorkflowResult;
  } finally {
    await client.connection.close();
  }
  assert.equal(result.set.status, 'complete');
  assert.equal(result.offsite?.status, 'copied', JSON.stringify(result.offsite));
  const survivor = hosts.find((host) => host !== writer)!;
  assert.equal(result.set.path, join(survivor.dir, result.set.name), 'the other worker wrote the set');
  assert.deepEqual(readdirSync(survivor.dir).filter((name) => name.startsWith('scholaria_backup_')), [result.set.name]);
  assert.deepEqual(stagedIn(survivor.dir), [], 'nothing staged left on the worker that finished');
  assert.deepEqual(readdirSync(writer.dir).filter((name) => name.startsWith('scholaria_backup_')), [], 'no set sealed on the killed worker');
  const offsiteAfter = JSON.parse((await runCli(['list', '--offsite', '--json'], queue)).stdout) as { name: string; status: string }[];
  const added = offsiteAfter.filter((set) => !offsiteBefore.some((before) => before.name === set.name));
  assert.deepEqual(added.map((set) => [set.name, set.status]), [[result.set.name, 'complete']], 'exactly one new set in the bucket, complete');
  assert.deepEqual(await target.uploads(), [], 'no multipart upload left in the bucket');
});

test('credentials appear in no workflow history and no log line', async () => {
  const client = await temporalClient();
  try {
    for (const workflowId of workflowIds) {
      const history = JSON.stringify(await client.workflow.getHandle(workflowId).fetchHistory());
      for (const secret of target.secrets) assert.ok(!history.includes(secret), `a credential is in the history of ${workflowId}`);
    }
  } finally {
    await client.connection.close();
  }
  for (const file of filesUnder(env.LOG_DIR!)) {
    const text = readFileSync(join(env.LOG_DIR!, file), 'utf8');
    for (const secret of target.secrets) assert.ok(!text.includes(secret), `a credential is in ${file}`);
  }
});
