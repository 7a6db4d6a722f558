/**
 * `npm run faults`: injected faults against real servers (a Temporal dev server with a database file,
 * PostgreSQL, Redis), one row per case. The steps come from the workflows' own histories: one clean
 * backup and one clean restore are run first and their ActivityTaskScheduled events list the
 * activities, so a new step is covered without editing this file. Each case starts the run through
 * the CLI, waits until the step's activity is running, injects the fault, lets the run finish and
 * checks the invariants. FAULTS_FILTER=<text> keeps the cases whose name contains it.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { Redis } from 'ioredis';
import { AUDIT_FILE } from '../../activities/audit';
import { freePort } from '../../devstack/ports';
import { startTemporalDevServer, type DevServer } from '../../devstack/temporal';
import { bundleWorkflows } from '../../worker/bundle';
import { tableChecksums } from '../support/fingerprints';
import { addBulkTable, seedStores } from '../support/scholaria';
import { CLI, environmentFor, runCli, scratchDir, startStores, type CliResult, type Stores } from '../support/stack';
import { descendantsOf } from '../support/processes';
import { isAlive } from '../../devstack/local-stack';

type Kind = 'backup' | 'restore';
type Fault = 'worker SIGKILL' | 'Temporal killed+restarted';
interface Row {
  fault: string;
  where: string;
  run: string;
  invariants: string;
  ok: boolean;
}

const dir = scratchDir('matrix');
let server: DevServer;
let port: number;
let stores: Stores;
let env: Record<string, string>;
let worker: ChildProcess;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const startServer = () => startTemporalDevServer({ port, uiPort: false, dbFile: join(dir, 'temporal.db'), logFile: join(dir, 'temporal.log') });
const startWorker = () => spawn(process.execPath, [CLI, 'worker'], { env, stdio: ['ignore', 'ignore', 'ignore'] });

async function withClient<T>(use: (client: Client) => Promise<T>): Promise<T> {
  const connection = await Connection.connect({ address: server.address });
  try {
    return await use(new Client({ connection }));
  } finally {
    await connection.close();
  }
}

const commands: Record<Kind, string[]> = { backup: ['backup', '--tier', 'daily'], restore: ['restore', 'latest', '--yes'] };
const workflowTypes: Record<Kind, string> = { backup: 'backupWorkflow', restore: 'restoreWorkflow' };

function runIdOf(result: CliResult): string | undefined {
  return /(?:Backup|Restore) (\S+) started/.exec(result.stdout)?.[1];
}

/** The activities a run scheduled, in order, from its history. */
async function activitiesOf(workflowId: string): Promise<string[]> {
  const history = await withClient((client) => client.workflow.getHandle(workflowId).fetchHistory());
  const names = (history.events ?? []).map((event) => event.activityTaskScheduledEventAttributes?.activityType?.name).filter((name): name is string => Boolean(name));
  return [...new Set(names)];
}

/** Waits until a running workflow of `kind` has `activity` started; its id, or undefined if the run ended first. */
async function whenRunning(kind: Kind, activity: string, cli: { done: boolean }): Promise<string | undefined> {
  while (!cli.done) {
    const found = await withClient(async (client) => {
      for await (const run of client.workflow.list({ query: `WorkflowType = '${workflowTypes[kind]}' AND ExecutionStatus = 'Running'` })) {
        const pending = (await client.workflow.getHandle(run.workflowId).describe()).raw.pendingActivities ?? [];
        if (pending.some((item) => item.activityType?.name === activity && item.lastStartedTime)) return run.workflowId;
      }
      return undefined;
    }).catch(() => undefined);
    if (found) return found;
    await sleep(30);
  }
  return undefined;
}

async function inject(fault: Fault): Promise<number[]> {
  if (fault === 'worker SIGKILL') {
    const children = descendantsOf(worker.pid!);
    worker.kill('SIGKILL');
    await new Promise((resolve) => worker.once('exit', resolve));
    worker = startWorker();
    return children;
  }
  process.kill(server.pid, 'SIGKILL');
  while (isAlive(server.pid)) await sleep(50);
  await sleep(10_000);
  server = await startServer();
  return [];
}

const setsIn = () => readdirSync(env.BACKUP_DIR!).filter((name) => name.startsWith('scholaria_backup_')).sort();
const auditLines = () => (existsSync(join(env.LOG_DIR!, AUDIT_FILE)) ? readFileSync(join(env.LOG_DIR!, AUDIT_FILE), 'utf8').trim().split('\n').filter(Boolean).length : 0);

async function redisRole(): Promise<string> {
  const redis = new Redis(stores.redis.url);
  try {
    return /^role:(\w+)/m.exec(await redis.info('replication'))?.[1] ?? 'unknown';
  } finally {
    redis.disconnect();
  }
}

async function runCase(kind: Kind, activity: string, fault: Fault, setTables: Record<string, string>): Promise<Row> {
  const where = `${kind}: during ${activity}`;
  const setsBefore = setsIn();
  const auditBefore = auditLines();
  if (kind === 'restore') spawnSync('psql', [stores.databaseUrl, '-qc', 'create table if not exists fault_marker (x int); insert into fault_marker values (1)']);
  const tablesBefore = await tableChecksums(stores.databaseUrl);
  const cli = { done: false };
  const running = runCli(commands[kind], env, 600_000).finally(() => (cli.done = true));
  const workflowId = await whenRunning(kind, activity, cli);
  if (!workflowId) {
    await running;
    return { fault, where, run: 'ended before the step was seen (too fast to hit)', invariants: '-', ok: true };
  }
  const children = await inject(fault);
  const result = await running;
  const status = await withClient((client) => client.workflow.getHandle(workflowId).describe()).then((description) => description.status.name);
  const problems: string[] = [];
  const deadline = Date.now() + 5000;
  while (children.some(isAlive) && Date.now() < deadline) await sleep(50);
  if (children.some(isAlive)) problems.push(`children of the killed worker alive: ${children.filter(isAlive).join(',')}`);
  if (readdirSync(join(env.BACKUP_DIR!, '.partial')).length > 0) problems.push('.partial/ not empty');
  if ((await redisRole()) !== 'master') problems.push('Redis left a replica');
  if (auditLines() !== auditBefore + 1) problems.push(`audit lines +${auditLines() - auditBefore}, expected +1`);
  const cliOk = (status === 'COMPLETED') === (result.code === 0);
  if (!cliOk) problems.push(`CLI exit ${result.code} but the run is ${status}: ${result.stderr.trim().split('\n').at(-1)}`);
  if (kind === 'backup') {
    const added = setsIn().filter((name) => !setsBefore.includes(name));
    if (status === 'COMPLETED') {
      if (added.length !== 1) problems.push(`${added.length} new sets`);
      else if (spawnSync('sha256sum', ['-c', '--quiet', 'SHA256SUMS'], { cwd: join(env.BACKUP_DIR!, added[0]!) }).status !== 0) problems.push('sha256sum -c failed');
    } else if (added.some((name) => JSON.parse(readFileSync(join(env.BACKUP_DIR!, name, 'backup_manifest.json'), 'utf8')).status === 'complete')) {
      problems.push('a complete set from a run that did not complete');
    }
  } else {
    const now = JSON.stringify(await tableChecksums(stores.databaseUrl));
    if (now !== JSON.stringify(setTables) && now !== JSON.stringify(tablesBefore)) problems.push('PostgreSQL equals neither the set nor what it held');
  }
  return { fault, where, run: `${status.toLowerCase()}, CLI exit ${result.code} (${workflowId})`, invariants: problems.length === 0 ? 'held' : problems.join('; '), ok: problems.length === 0 };
}

async function main(): Promise<number> {
  const filter = process.env.FAULTS_FILTER ?? '';
  const bundle = join(dir, 'bundle.js');
  await bundleWorkflows(bundle);
  port = await freePort();
  server = await startServer();
  process.env.TEST_TEMPORAL_ADDRESS = server.address;
  stores = await startStores('matrix-stores');
  await seedStores(stores);
  await addBulkTable(stores.databaseUrl, 20);
  env = environmentFor(stores, { TEMPORAL_ADDRESS: server.address, BACKUP_WORKFLOW_BUNDLE: bundle, BACKUP_WAIT_RECONNECT_SECONDS: '300' });
  worker = startWorker();
  const rows: Row[] = [];
  try {
    const setTables = await tableChecksums(stores.databaseUrl);
    const steps = {} as Record<Kind, string[]>;
    for (const kind of ['backup', 'restore'] as Kind[]) {
      const clean = await runCli(commands[kind], env, 600_000);
      const id = runIdOf(clean);
      if (clean.code !== 0 || !id) throw new Error(`the clean ${kind} failed: ${clean.stderr}`);
      steps[kind] = await activitiesOf(id);
      process.stdout.write(`[faults] ${kind} steps: ${steps[kind].join(', ')}\n`);
    }
    for (const kind of ['backup', 'restore'] as Kind[]) {
      for (const activity of steps[kind]) {
        for (const fault of ['worker SIGKILL', 'Temporal killed+restarted'] as Fault[]) {
          if (!`${fault} ${kind} ${activity}`.includes(filter)) continue;
          const row = await runCase(kind, activity, fault, setTables).catch((error: Error) => ({ fault, where: `${kind}: during ${activity}`, run: 'harness error', invariants: error.message, ok: false }));
          rows.push(row);
          process.stdout.write(`[faults] ${row.ok ? 'ok  ' : 'FAIL'} ${row.fault} | ${row.where} | ${row.run} | ${row.invariants}\n`);
        }
      }
    }
  } finally {
    if (worker.exitCode === null) worker.kill('SIGKILL');
    await server.stop();
    await stores.stop();
  }
  const table = [
    `Faults run ${new Date().toISOString().slice(0, 10)} (npm run faults${filter ? `, FAULTS_FILTER=${filter}` : ''})`,
    '',
    '| fault | where | what the run did | invariants |',
    '|---|---|---|---|',
    ...rows.map((row) => `| ${row.fault} | ${row.where} | ${row.run} | ${row.invariants} |`),
    `| **${rows.length} faults injected** | | | **${rows.filter((row) => row.ok).length} held, ${rows.filter((row) => !row.ok).length} failed** |`,
    '',
    'Not in this matrix yet: BACKUP_DIR full (tmpfs mounts work as root here) or read-only, the store connection cut through a proxy, the store restarted, the worker clock jumping an hour (no faketime or other mechanism installed), the load cases.',
  ].join('\n');
  process.stdout.write(`\n${table}\n`);
  return rows.every((row) => row.ok) ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (error: Error) => {
    process.stderr.write(`[faults] ${error.stack ?? error.message}\n`);
    process.exit(1);
  },
);
