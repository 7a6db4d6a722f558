/**
 * What the fault cases outside the matrix share (test/faults/disk.ts, clock.ts, load.ts): private
 * stores seeded small, the backup read through a password login (so a leak of the secret can be looked
 * for), workers as real processes, the invariants every case checks, and the table they print.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { cpSync, existsSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { isAlive } from '../../devstack/local-stack';
import { startTemporalDevServer } from '../../devstack/temporal';
import { bundleWorkflows } from '../../worker/bundle';
import { MANIFEST_FILE, type Manifest } from '../../core/manifest';
import { setNameOf } from '../../core/set-names';
import type { Tier } from '../../core/tiers';
import { descendantsOf } from './processes';
import { addPasswordLogin, BACKUP_PASSWORD, seedStores } from './scholaria';
import { CLI, environmentFor, runCli, scratchDir, startStores, type CliResult, type Stores } from './stack';

/** One line of a fault table: the fault, where it struck, what the run did, whether the invariants held. */
export interface FaultRow {
  fault: string;
  where: string;
  run: string;
  invariants: string;
  ok: boolean;
}

export interface FaultStack {
  stores: Stores;
  env: Record<string, string>;
  /** Starts a worker process; `nodeArgs` go before the CLI (e.g. `--import` of a preload). */
  startWorker(options?: { nodeArgs?: string[]; env?: Record<string, string> }): ChildProcess;
  /** Stops every worker started (SIGTERM, then SIGKILL after 20 s); the pids of children they left alive. */
  stopWorkers(): Promise<number[]>;
  /** Children of the running workers still alive 5 s from now: once every run has ended there must be none. */
  strays(): Promise<number[]>;
  backup(tier?: string, env?: Record<string, string>): Promise<CliResult>;
  /** Every CLI run's output so far, for the credential check. */
  outputs: CliResult[];
  stop(): Promise<void>;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export async function startFaultStack(name: string, overrides: Record<string, string> = {}): Promise<FaultStack> {
  const stores = await startStores(name);
  await seedStores(stores, { users: 3, topicsPerUser: 2, contextsPerTopic: 2, chunksPerContext: 3, sessions: 20 });
  const env = environmentFor(stores, { POSTGRES_URL: await addPasswordLogin(stores), BACKUP_WAIT_RECONNECT_SECONDS: '120', ...overrides });
  const workers: ChildProcess[] = [];
  const outputs: CliResult[] = [];
  const stopWorkers = async () => {
    const left: number[] = [];
    for (const worker of workers.splice(0)) {
      if (worker.exitCode !== null || worker.signalCode !== null) continue;
      const children = descendantsOf(worker.pid!);
      const exited = new Promise((resolve) => worker.once('exit', resolve));
      worker.kill('SIGTERM');
      if (!(await Promise.race([exited.then(() => true), sleep(20_000).then(() => false)]))) {
        worker.kill('SIGKILL');
        await exited;
      }
      const deadline = Date.now() + 5000;
      while (children.some(isAlive) && Date.now() < deadline) await sleep(50);
      left.push(...children.filter(isAlive));
    }
    return left;
  };
  return {
    stores,
    env,
    outputs,
    startWorker: (options = {}) => {
      const worker = spawn(process.execPath, [...(options.nodeArgs ?? []), CLI, 'worker'], { env: { ...env, ...options.env }, stdio: ['ignore', 'ignore', 'pipe'] });
      // The worker's own output is a log too: it is checked for credentials with the rest.
      let stderr = '';
      worker.stderr!.setEncoding('utf8').on('data', (text: string) => (stderr += text));
      worker.once('exit', () => outputs.push({ code: worker.exitCode ?? -1, stdout: '', stderr }));
      workers.push(worker);
      return worker;
    },
    stopWorkers,
    strays: async () => {
      const deadline = Date.now() + 5000;
      let children = workers.flatMap((worker) => workChildrenOf(worker.pid!));
      while (children.length > 0 && Date.now() < deadline) {
        await sleep(100);
        children = workers.flatMap((worker) => workChildrenOf(worker.pid!));
      }
      return children;
    },
    backup: async (tier = 'daily', extra = {}) => {
      const result = await runCli(['backup', '--tier', tier], { ...env, ...extra }, 300_000);
      outputs.push(result);
      return result;
    },
    stop: async () => {
      await stopWorkers();
      await stores.stop();
    },
  };
}

/**
 * The children of a worker that do work (pg_dump, redis-server...): not tsx's esbuild service, which a
 * worker run from the TypeScript sources keeps for its whole life.
 */
function workChildrenOf(pid: number): number[] {
  return descendantsOf(pid).filter((child) => spawnSync('ps', ['-o', 'comm=', '-p', String(child)], { encoding: 'utf8' }).stdout.trim() !== 'esbuild');
}

export const setsIn = (backupDir: string) => (existsSync(backupDir) ? readdirSync(backupDir).filter((name) => name.startsWith('scholaria_backup_')).sort() : []);

export function manifestOf(backupDir: string, set: string): Manifest {
  return JSON.parse(readFileSync(join(backupDir, set, MANIFEST_FILE), 'utf8')) as Manifest;
}

/** A copy of the set `source` named as if taken `ageMs` ago (a real, verified set, only older), of `tier` when given. */
export function plantSet(backupDir: string, source: string, ageMs: number, tier?: Tier): string {
  const name = setNameOf(new Date(Date.now() - ageMs));
  cpSync(join(backupDir, source), join(backupDir, name), { recursive: true });
  const manifestPath = join(backupDir, name, MANIFEST_FILE);
  const manifest = JSON.parse(readFileSync(manifestPath, 'utf8')) as Record<string, unknown>;
  writeFileSync(manifestPath, JSON.stringify({ ...manifest, name, ...(tier ? { tier } : {}), startedAt: new Date(Date.now() - ageMs).toISOString(), finishedAt: new Date(Date.now() - ageMs).toISOString() }, null, 2));
  return name;
}

/** What `.partial/` holds, when it can be read. */
export function staged(backupDir: string): string[] {
  const dir = join(backupDir, '.partial');
  return existsSync(dir) ? readdirSync(dir) : [];
}

/** The id a CLI run printed for the workflow it started. */
export function runIdOf(result: CliResult): string | undefined {
  return /(?:Backup|Restore|Prune) (\S+) started/.exec(result.stdout)?.[1];
}

/** The last line the CLI printed on stderr (its one-line error), or its last stdout line. */
export function lastLine(result: CliResult): string {
  return (result.stderr.trim() || result.stdout.trim()).split('\n').at(-1) ?? '';
}

/**
 * The invariants every case checks once its runs have ended: each new `complete` set passes
 * `sha256sum -c`; `.partial/` is empty; no child of a worker is left running; the secret is in no log
 * file, CLI output or history of the runs.
 */
export async function commonProblems(stack: FaultStack, setsBefore: string[], workflowIds: string[]): Promise<string[]> {
  const { env } = stack;
  const backupDir = env.BACKUP_DIR!;
  const problems: string[] = [];
  if (staged(backupDir).length > 0) problems.push(`.partial/ holds ${staged(backupDir).join(', ')}`);
  const strays = await stack.strays();
  if (strays.length > 0) problems.push(`worker children left running: ${spawnSync('ps', ['-o', 'pid=,comm=', '-p', strays.join(',')], { encoding: 'utf8' }).stdout.trim().replace(/\s+/g, ' ')}`);
  for (const set of setsIn(backupDir).filter((name) => !setsBefore.includes(name))) {
    if (manifestOf(backupDir, set).status !== 'complete') continue;
    if (spawnSync('sha256sum', ['-c', '--quiet', 'SHA256SUMS'], { cwd: join(backupDir, set) }).status !== 0) problems.push(`${set}: sha256sum -c failed`);
  }
  const logDir = env.LOG_DIR!;
  const logs = existsSync(logDir) ? readdirSync(logDir).filter((file) => statSync(join(logDir, file)).isFile()).map((file) => readFileSync(join(logDir, file), 'utf8')) : [];
  const outputs = stack.outputs.map((result) => `${result.stdout}\n${result.stderr}`);
  if ([...logs, ...outputs].some((text) => text.includes(BACKUP_PASSWORD))) problems.push('the password is in a log line or CLI output');
  const histories = await withTemporal(env.TEMPORAL_ADDRESS!, (client) =>
    Promise.all(workflowIds.map(async (id) => JSON.stringify(await client.workflow.getHandle(id).fetchHistory()))),
  );
  if (histories.some((history) => history.includes(BACKUP_PASSWORD))) problems.push('the password is in a workflow history');
  return problems;
}

export async function withTemporal<T>(address: string, use: (client: Client) => Promise<T>): Promise<T> {
  const connection = await Connection.connect({ address });
  try {
    return await use(new Client({ connection }));
  } finally {
    await connection.close();
  }
}

export function rowOf(fault: string, where: string, run: string, problems: string[]): FaultRow {
  return { fault, where, run, invariants: problems.length === 0 ? 'held' : problems.join('; '), ok: problems.length === 0 };
}

/** Runs one case; a harness error becomes a failed row instead of ending the table. */
export async function caseRow(fault: string, where: string, body: () => Promise<FaultRow>): Promise<FaultRow> {
  try {
    return await body();
  } catch (error) {
    return { fault, where, run: 'harness error', invariants: (error as Error).message, ok: false };
  }
}

/**
 * The runnable entry of a fault file: a workflow bundle and a Temporal dev server of its own, the
 * cases, their table; exit 1 when a case failed.
 */
/** Runs `cases` against a private Temporal dev server and workflow bundle of their own, removed afterwards. */
export async function withFaultTemporal(cases: () => Promise<FaultRow[]>): Promise<FaultRow[]> {
  const dir = scratchDir('fault-entry');
  const bundle = join(dir, 'bundle.js');
  await bundleWorkflows(bundle);
  const server = await startTemporalDevServer({ uiPort: false, logFile: join(dir, 'temporal.log') });
  process.env.TEST_TEMPORAL_ADDRESS = server.address;
  process.env.BACKUP_WORKFLOW_BUNDLE = bundle;
  try {
    return await cases();
  } finally {
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

export function runFaultEntry(title: string, cases: () => Promise<FaultRow[]>): void {
  const main = async () => {
    const rows = await withFaultTemporal(cases);
    process.stdout.write(`\n${formatTable(title, rows)}\n`);
    return rows.every((row) => row.ok) ? 0 : 1;
  };
  main().then(
    (code) => process.exit(code),
    (error: Error) => {
      process.stderr.write(`[faults] ${error.stack ?? error.message}\n`);
      process.exit(1);
    },
  );
}

export function formatTable(title: string, rows: FaultRow[]): string {
  return [
    `${title}, run ${new Date().toISOString().slice(0, 10)}`,
    '',
    '| fault | where | what the run did | invariants |',
    '|---|---|---|---|',
    ...rows.map((row) => `| ${row.fault} | ${row.where} | ${row.run} | ${row.invariants} |`),
    `| **${rows.length} faults injected** | | | **${rows.filter((row) => row.ok).length} held, ${rows.filter((row) => !row.ok).length} failed** |`,
  ].join('\n');
}

export function logRow(row: FaultRow): void {
  process.stdout.write(`[faults] ${row.ok ? 'ok  ' : 'FAIL'} ${row.fault} | ${row.where} | ${row.run} | ${row.invariants}\n`);
}

/** Resolves once a running workflow of `workflowType` has `activity` started, or when `ended()` says the run is over. */
export async function whenActivityRunning(address: string, workflowType: string, activity: string, ended: () => boolean): Promise<boolean> {
  while (!ended()) {
    const found = await withTemporal(address, async (client) => {
      for await (const run of client.workflow.list({ query: `WorkflowType = '${workflowType}' AND ExecutionStatus = 'Running'` })) {
        const pending = (await client.workflow.getHandle(run.workflowId).describe()).raw.pendingActivities ?? [];
        if (pending.some((item) => item.activityType?.name === activity && item.lastStartedTime)) return true;
      }
      return false;
    }).catch(() => false);
    if (found) return true;
    await sleep(30);
  }
  return false;
}
