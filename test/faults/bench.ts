/**
 * The fault bench: its own Temporal dev server with a database file (so it can be killed and started
 * again on the same port), private PostgreSQL and Redis behind loopback proxies the bench can cut, both
 * with passwords the worker must never leak, and a worker run as the CLI runs it. `runCase` starts a
 * backup or a restore through the CLI, strikes with one fault kind at one point of one activity, lets
 * the run end and checks the invariants of issue 18. Used by `npm run faults` (test/faults/matrix.ts)
 * and by the few cases in test/faults.test.ts.
 *
 * A new fault kind is one more entry in FAULT_KINDS: its name, the points of which steps it strikes at,
 * and an inject function that does the damage and returns once the fault is over (a replacement worker
 * started, the server back up). Every invariant is checked for every kind without further code.
 */
import type { FaultRow } from '../support/fault-stack';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, openSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { Redis } from 'ioredis';
import { Client as PgClient } from 'pg';
import { AUDIT_FILE } from '../../activities/audit';
import { startLocalRedis, type LocalRedis } from '../../activities/redis/local-server';
import { isAlive } from '../../devstack/local-stack';
import { freePort } from '../../devstack/ports';
import { startLocalPostgres, stopLocalPostgres } from '../../devstack/postgres';
import { startTemporalDevServer, type DevServer } from '../../devstack/temporal';
import { bundleWorkflows } from '../../worker/bundle';
import { redisDifferences, redisFingerprint, tableChecksums, type KeyFingerprint } from '../support/fingerprints';
import { descendantsOf } from '../support/processes';
import { addBulkTable, addPasswordLogin, BACKUP_PASSWORD, seedStores } from '../support/scholaria';
import { CLI, environmentFor, runCli, scratchDir, startStores, type CliResult, type Stores } from '../support/stack';
import { startTcpProxy, type TcpProxy } from '../support/tcp-proxy';

export type Kind = 'backup' | 'restore';
/** Before: the activity is scheduled (in history); during: an attempt has started; just after: its completion is in history. */
export type Point = 'before' | 'during' | 'just after';
export const POINTS: readonly Point[] = ['before', 'during', 'just after'];

/** One case of the table, as every fault entry reports it. */
export type Row = FaultRow;

interface Injected {
  /** Processes the fault orphaned, which must die on their own. */
  orphans?: number[];
  /** What the fault did, for the table. */
  note?: string;
}

export interface FaultKind {
  name: string;
  /** The points of `activity` in a `kind` run where this fault strikes; none when it does not apply there. */
  pointsOf(kind: Kind, activity: string): readonly Point[];
  inject(bench: FaultBench): Promise<Injected>;
}

export const REDIS_PASSWORD = 'rd-Secret-41c9e';
const TEMPORAL_DOWN_MS = 8_000;
const STORE_DOWN_MS = 3_000;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
/** The activities that stream a store's data: where cutting or restarting that store bites. */
const streams = (store: 'Postgres' | 'Redis') => (_kind: Kind, activity: string): readonly Point[] =>
  activity === `backup${store}` || activity === `restore${store}` ? ['during'] : [];

export const FAULT_KINDS: readonly FaultKind[] = [
  {
    name: 'worker SIGKILL',
    pointsOf: () => POINTS,
    inject: async (bench) => ({ orphans: await bench.killWorker() }),
  },
  {
    name: 'Temporal killed+restarted',
    pointsOf: () => POINTS,
    inject: async (bench) => {
      process.kill(bench.server.pid, 'SIGKILL');
      while (isAlive(bench.server.pid)) await sleep(50);
      await sleep(TEMPORAL_DOWN_MS);
      bench.server = await bench.startServer();
      return {};
    },
  },
  {
    name: 'PostgreSQL connection cut',
    pointsOf: streams('Postgres'),
    inject: (bench) => cutWhenOpen(bench.proxies.postgres),
  },
  {
    name: 'Redis connection cut',
    pointsOf: streams('Redis'),
    inject: (bench) => cutWhenOpen(bench.proxies.redis),
  },
  {
    name: 'PostgreSQL restarted',
    pointsOf: streams('Postgres'),
    inject: async (bench) => {
      const dir = join(bench.stores.dir, 'postgres');
      stopLocalPostgres(dir, 'immediate');
      await sleep(STORE_DOWN_MS);
      await startLocalPostgres({ dir, port: bench.stores.postgres.port });
      return {};
    },
  },
  {
    name: 'Redis restarted',
    pointsOf: streams('Redis'),
    inject: async (bench) => {
      // A Redis that persists: it saves what it holds as it shuts down and loads it again.
      const redis = new Redis(bench.redisUrl, { retryStrategy: () => null });
      redis.on('error', () => undefined);
      await redis.call('SHUTDOWN', 'SAVE').catch(() => undefined);
      redis.disconnect();
      while (isAlive(bench.redis.pid)) await sleep(50);
      await sleep(STORE_DOWN_MS);
      bench.redis = await startRedis(bench.stores, bench.stores.redis.port!);
      return {};
    },
  },
];

/** Cuts the proxy's connections, waiting a few seconds for one when none is open (between two phases of a step). */
async function cutWhenOpen(proxy: TcpProxy): Promise<Injected> {
  const deadline = Date.now() + 5_000;
  while (proxy.open() === 0 && Date.now() < deadline) await sleep(10);
  return { note: `${proxy.cut()} connections cut` };
}

function startRedis(stores: Stores, port: number): Promise<LocalRedis> {
  return startLocalRedis({ dir: join(stores.dir, 'redis'), port, password: REDIS_PASSWORD, extraArgs: ['--repl-diskless-sync-delay', '0'] });
}

const commands: Record<Kind, string[]> = { backup: ['backup', '--tier', 'daily'], restore: ['restore', 'latest', '--yes'] };
const workflowTypes: Record<Kind, string> = { backup: 'backupWorkflow', restore: 'restoreWorkflow' };

type HistoryEvent = NonNullable<Awaited<ReturnType<ReturnType<Client['workflow']['getHandle']>['fetchHistory']>>['events']>[number];

/**
 * Whether `point` of `activity` has come, from the run's history and pending activities: false, or
 * what the history showed when it came (a "just after" that found the next step already scheduled says so).
 */
async function reached(client: Client, workflowId: string, activity: string, point: Point): Promise<false | string> {
  const handle = client.workflow.getHandle(workflowId);
  if (point === 'during') {
    const pending = (await handle.describe()).raw.pendingActivities ?? [];
    return pending.some((item) => item.activityType?.name === activity && item.lastStartedTime) ? '' : false;
  }
  const events: HistoryEvent[] = (await handle.fetchHistory()).events ?? [];
  const scheduled = events.find((event) => event.activityTaskScheduledEventAttributes?.activityType?.name === activity);
  if (!scheduled) return false;
  if (point === 'before') return '';
  const completed = events.findIndex((event) => String(event.activityTaskCompletedEventAttributes?.scheduledEventId ?? '') === String(scheduled.eventId));
  if (completed < 0) return false;
  const next = events.slice(completed).map((event) => event.activityTaskScheduledEventAttributes?.activityType?.name).filter(Boolean);
  return next.length > 0 ? `struck with ${next.join(', ')} already scheduled` : '';
}

/** Every string in a history, payloads decoded: what a reader of the history could see. */
function textOf(value: unknown): string {
  if (value instanceof Uint8Array) return Buffer.from(value).toString('utf8');
  if (Array.isArray(value)) return value.map(textOf).join('\n');
  if (value && typeof value === 'object') return Object.values(value).map(textOf).join('\n');
  return typeof value === 'string' ? value : '';
}

function filesUnder(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? filesUnder(path) : [path];
  });
}

export class FaultBench {
  readonly dir = scratchDir('faults-bench');
  server!: DevServer;
  worker!: ChildProcess;
  stores!: Stores;
  redis!: LocalRedis;
  proxies!: { postgres: TcpProxy; redis: TcpProxy };
  /** Direct URLs with the passwords, for the bench's own checks (the worker goes through the proxies). */
  postgresUrl!: string;
  redisUrl!: string;
  env!: Record<string, string>;
  private port!: number;
  /** What the stores held when the sets were taken: what a restore must bring back. */
  private setTables!: Record<string, string>;
  private setKeys!: Record<string, KeyFingerprint>;
  private setKeysAt = 0;
  private caseNumber = 0;

  startServer = () => startTemporalDevServer({ port: this.port, uiPort: false, dbFile: join(this.dir, 'temporal.db'), logFile: join(this.dir, 'temporal.log') });
  /** Workers that died without the bench killing them: each a failed case, and replaced so the run can end. */
  private readonly killed = new WeakSet<ChildProcess>();
  private workerDeaths: string[] = [];
  private stopping = false;

  startWorker = (): ChildProcess => {
    const log = openSync(join(this.dir, 'worker.log'), 'a');
    const child = spawn(process.execPath, [CLI, 'worker'], { env: this.env, stdio: ['ignore', log, log] });
    child.once('exit', (code, signal) => {
      if (this.killed.has(child) || this.stopping) return;
      this.workerDeaths.push(`the worker died on its own (${signal ?? `exit ${code}`}, see its log)`);
      this.worker = this.startWorker();
    });
    return child;
  };

  /** SIGKILLs the worker and starts another; the processes the killed one had started. */
  async killWorker(): Promise<number[]> {
    const worker = this.worker;
    const orphans = descendantsOf(worker.pid!);
    this.killed.add(worker);
    worker.kill('SIGKILL');
    await new Promise((resolve) => worker.once('exit', resolve));
    this.worker = this.startWorker();
    return orphans;
  }

  async start(): Promise<void> {
    // The suite's bundle when there is one (npm test), else one of the bench's own.
    const bundle = process.env.BACKUP_WORKFLOW_BUNDLE ?? join(this.dir, 'bundle.js');
    if (!process.env.BACKUP_WORKFLOW_BUNDLE) await bundleWorkflows(bundle);
    this.port = await freePort();
    this.server = await this.startServer();
    process.env.TEST_TEMPORAL_ADDRESS = this.server.address;
    this.stores = await startStores('faults-stores');
    this.redis = this.stores.redis;
    await seedStores(this.stores);
    await addBulkTable(this.stores.databaseUrl, 20);
    this.postgresUrl = await addPasswordLogin(this.stores);
    const redis = new Redis(this.stores.redis.url);
    await redis.config('SET', 'requirepass', REDIS_PASSWORD);
    redis.disconnect();
    this.redisUrl = `redis://:${REDIS_PASSWORD}@127.0.0.1:${this.stores.redis.port}`;
    this.proxies = { postgres: await startTcpProxy(this.stores.postgres.port), redis: await startTcpProxy(this.stores.redis.port!) };
    this.env = environmentFor(this.stores, {
      TEMPORAL_ADDRESS: this.server.address,
      BACKUP_WORKFLOW_BUNDLE: bundle,
      BACKUP_WAIT_RECONNECT_SECONDS: '300',
      LOG_LEVEL: 'info',
      // The product's default (gzip) unless asked: zstd stages PostgreSQL as the archive is decoded, gzip reads it as stored.
      ...(process.env.FAULTS_COMPRESSION ? { BACKUP_COMPRESSION: process.env.FAULTS_COMPRESSION } : {}),
      POSTGRES_URL: this.postgresUrl.replace(`:${this.stores.postgres.port}/`, `:${this.proxies.postgres.port}/`),
      REDIS_URL: `redis://:${REDIS_PASSWORD}@127.0.0.1:${this.proxies.redis.port}`,
    });
    this.setTables = await tableChecksums(this.postgresUrl);
    this.setKeys = await redisFingerprint(this.redisUrl);
    this.setKeysAt = Date.now();
    this.worker = this.startWorker();
  }

  async stop(): Promise<void> {
    this.stopping = true;
    if (this.worker?.exitCode === null) this.worker.kill('SIGKILL');
    await this.server?.stop();
    await this.proxies?.postgres.close();
    await this.proxies?.redis.close();
    if (this.redis !== this.stores?.redis) await this.redis?.stop();
    await this.stores?.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }

  async withClient<T>(use: (client: Client) => Promise<T>): Promise<T> {
    const connection = await Connection.connect({ address: this.server.address });
    try {
      return await use(new Client({ connection }));
    } finally {
      await connection.close();
    }
  }

  /** Runs `kind` once without faults; the activities its history scheduled, in order. */
  async stepsOf(kind: Kind): Promise<string[]> {
    const clean = await runCli(commands[kind], this.env, 600_000);
    const workflowId = /(?:Backup|Restore) (\S+) started/.exec(clean.stdout)?.[1];
    if (clean.code !== 0 || !workflowId) throw new Error(`the clean ${kind} failed: ${clean.stderr}`);
    const history = await this.withClient((client) => client.workflow.getHandle(workflowId).fetchHistory());
    const names = (history.events ?? []).map((event) => event.activityTaskScheduledEventAttributes?.activityType?.name).filter((name): name is string => Boolean(name));
    return [...new Set(names)];
  }

  /** Waits until a running `kind` run reaches `point` of `activity`; its id, or undefined if the CLI ended first. */
  private async whenReached(kind: Kind, activity: string, point: Point, cli: { done: boolean }): Promise<{ workflowId: string; note: string } | undefined> {
    const connection = await Connection.connect({ address: this.server.address });
    const client = new Client({ connection });
    try {
      let workflowId: string | undefined;
      while (!cli.done) {
        try {
          if (!workflowId) {
            for await (const run of client.workflow.list({ query: `WorkflowType = '${workflowTypes[kind]}' AND ExecutionStatus = 'Running'` })) workflowId = run.workflowId;
          }
          const note = workflowId ? await reached(client, workflowId, activity, point) : false;
          if (workflowId && note !== false) return { workflowId, note };
        } catch {
          // The server may be slow to answer under load: ask again.
        }
        await sleep(20);
      }
      return undefined;
    } finally {
      await connection.close();
    }
  }

  private setsIn(): string[] {
    return readdirSync(this.env.BACKUP_DIR!).filter((name) => name.startsWith('scholaria_backup_')).sort();
  }

  private auditLines(): number {
    const file = join(this.env.LOG_DIR!, AUDIT_FILE);
    return existsSync(file) ? readFileSync(file, 'utf8').trim().split('\n').filter(Boolean).length : 0;
  }

  private async redisRole(): Promise<string> {
    const redis = new Redis(this.redisUrl);
    try {
      return /^role:(\w+)/m.exec(await redis.info('replication'))?.[1] ?? 'unknown';
    } finally {
      redis.disconnect();
    }
  }

  private async databases(): Promise<string[]> {
    const client = new PgClient({ connectionString: this.postgresUrl });
    await client.connect();
    try {
      return (await client.query<{ datname: string }>('SELECT datname FROM pg_database ORDER BY 1')).rows.map((row) => row.datname);
    } finally {
      await client.end();
    }
  }

  /** The restore's starting point differs from the set in both stores, so "rolled back" and "restored" can be told apart. */
  private async markStores(): Promise<void> {
    spawnSync('psql', [this.postgresUrl, '-qc', 'CREATE TABLE IF NOT EXISTS fault_marker (x int); INSERT INTO fault_marker VALUES (1)']);
    const redis = new Redis(this.redisUrl);
    await redis.set('fault:marker', String(this.caseNumber));
    redis.disconnect();
  }

  /**
   * What a set's manifest counts that the source did not hold when the run started: rows per table,
   * and keys per database (keys with a TTL may have expired since, so those only as an upper bound).
   */
  private contentDifferences(set: string, tables: Record<string, string>, keys: Record<string, KeyFingerprint>): string[] {
    const manifest = JSON.parse(readFileSync(join(this.env.BACKUP_DIR!, set, 'backup_manifest.json'), 'utf8')) as {
      stores: Record<string, { summary?: { counts: Record<string, number> } }>;
    };
    const rows = Object.fromEntries(Object.entries(tables).filter(([name]) => !name.startsWith('sequence ')).map(([name, value]) => [name, Number.parseInt(value, 10)]));
    const differences: string[] = [];
    const sorted = (counts: Record<string, number> = {}) => JSON.stringify(Object.entries(counts).sort(([a], [b]) => a.localeCompare(b)));
    if (sorted(manifest.stores.postgres?.summary?.counts) !== sorted(rows)) differences.push('the set counts other rows than PostgreSQL held');
    const counted = manifest.stores.redis?.summary?.counts ?? {};
    for (const db of new Set([...Object.keys(counted), ...Object.keys(keys).map((key) => key.split(':')[0]!)])) {
      const inDb = Object.entries(keys).filter(([key]) => key.startsWith(`${db}:`));
      const lasting = inDb.filter(([, key]) => key.ttl === -1).length;
      const count = counted[db] ?? 0;
      if (count < lasting || count > inDb.length) differences.push(`the set counts ${count} keys in Redis ${db}, which held ${lasting}-${inDb.length}`);
    }
    return differences;
  }

  /** Whether any password is in the worker's log, the log folder, the CLI output or the histories of the runs since `since`. */
  private async leakedSecrets(since: Date, result: CliResult): Promise<string[]> {
    const secrets = [BACKUP_PASSWORD, REDIS_PASSWORD];
    const places: [string, string][] = [
      ['the worker log', readFileSync(join(this.dir, 'worker.log'), 'utf8')],
      ['the CLI output', result.stdout + result.stderr],
      ...filesUnder(this.env.LOG_DIR!).map((file): [string, string] => [file.slice(this.env.LOG_DIR!.length + 1), readFileSync(file, 'utf8')]),
    ];
    await this.withClient(async (client) => {
      for await (const run of client.workflow.list({ query: `StartTime >= '${since.toISOString()}'` })) {
        places.push([`the history of ${run.workflowId}`, textOf(await client.workflow.getHandle(run.workflowId, run.runId).fetchHistory())]);
      }
    });
    return places.filter(([, text]) => secrets.some((secret) => text.includes(secret))).map(([place]) => place);
  }

  async runCase(kind: Kind, activity: string, point: Point, fault: FaultKind): Promise<Row> {
    const where = `${kind}: ${point} ${activity}`;
    const row = (run: string, problems: string[]): Row => ({ fault: fault.name, where, run, invariants: problems.length === 0 ? 'held' : problems.join('; '), ok: problems.length === 0 });
    this.caseNumber += 1;
    const since = new Date(Date.now() - 1000);
    const setsBefore = this.setsIn();
    const safetyDir = join(this.env.BACKUP_DIR!, '.safety');
    const safetiesIn = () => (existsSync(safetyDir) ? readdirSync(safetyDir) : []);
    const safetiesBefore = safetiesIn();
    const databasesBefore = await this.databases();
    const auditBefore = this.auditLines();
    const deathsBefore = this.workerDeaths.length;
    if (kind === 'restore') await this.markStores();
    const tablesBefore = await tableChecksums(this.postgresUrl);
    const keysBefore = await redisFingerprint(this.redisUrl);
    const keysBeforeAt = Date.now();
    const cli = { done: false };
    const running = runCli(commands[kind], this.env, 900_000).finally(() => (cli.done = true));
    const struck = await this.whenReached(kind, activity, point, cli);
    if (!struck) {
      await running;
      return { fault: fault.name, where, run: 'ended before the point was seen (too fast to hit)', invariants: '-', ok: true };
    }
    const { workflowId } = struck;
    const injected = await fault.inject(this);
    const result = await running;
    const status = await this.withClient((client) => client.workflow.getHandle(workflowId).describe()).then((description) => description.status.name);
    const output = result.stdout + result.stderr;
    const problems: string[] = [];

    const orphans = injected.orphans ?? [];
    const deadline = Date.now() + 10_000;
    while ([...orphans, ...descendantsOf(this.worker.pid!)].some(isAlive) && Date.now() < deadline) await sleep(100);
    if (orphans.some(isAlive)) problems.push(`children of the killed worker alive: ${orphans.filter(isAlive).join(',')}`);
    const left = descendantsOf(this.worker.pid!);
    if (left.length > 0) problems.push(`the worker still runs ${left.length} child processes after the run ended`);
    problems.push(...this.workerDeaths.slice(deathsBefore));
    if (readdirSync(join(this.env.BACKUP_DIR!, '.partial')).length > 0) problems.push('.partial/ not empty');
    if ((await this.redisRole()) !== 'master') problems.push('Redis left a replica');
    if (this.auditLines() !== auditBefore + 1) problems.push(`audit lines +${this.auditLines() - auditBefore}, expected +1`);
    if ((status === 'COMPLETED') !== (result.code === 0)) problems.push(`CLI exit ${result.code} but the run is ${status}: ${result.stderr.trim().split('\n').at(-1)}`);
    const leaks = await this.leakedSecrets(since, result);
    if (leaks.length > 0) problems.push(`a password in ${leaks.join(', ')}`);

    if (kind === 'backup') {
      const added = this.setsIn().filter((name) => !setsBefore.includes(name));
      if (status === 'COMPLETED') {
        if (added.length !== 1) problems.push(`${added.length} new sets`);
        else if (spawnSync('sha256sum', ['-c', '--quiet', 'SHA256SUMS'], { cwd: join(this.env.BACKUP_DIR!, added[0]!) }).status !== 0) problems.push('sha256sum -c failed');
        else problems.push(...this.contentDifferences(added[0]!, tablesBefore, keysBefore));
      } else if (added.some((name) => JSON.parse(readFileSync(join(this.env.BACKUP_DIR!, name, 'backup_manifest.json'), 'utf8')).status === 'complete')) {
        problems.push('a complete set from a run that did not complete');
      }
    } else {
      const tables = JSON.stringify(await tableChecksums(this.postgresUrl));
      const asSet = tables === JSON.stringify(this.setTables);
      const asBefore = tables === JSON.stringify(tablesBefore);
      if (!asSet && !asBefore) problems.push('PostgreSQL equals neither the set nor what it held');
      else if (status === 'COMPLETED' && !asSet) problems.push('PostgreSQL does not hold the set after a completed restore');
      const keys = await redisFingerprint(this.redisUrl);
      const drift = (at: number) => Math.ceil((Date.now() - at) / 1000) + 5;
      const keysAsSet = redisDifferences(this.setKeys, keys, drift(this.setKeysAt)).length === 0;
      const keysAsBefore = redisDifferences(keysBefore, keys, drift(keysBeforeAt)).length === 0;
      if (!keysAsSet && !keysAsBefore) problems.push('Redis equals neither the set nor what it held');
      else if (status === 'COMPLETED' && !keysAsSet) problems.push('Redis does not hold the set after a completed restore');
      const unnamed = (await this.databases()).filter((name) => !databasesBefore.includes(name) && !output.includes(name));
      if (unnamed.length > 0) problems.push(`databases left and not named in the output: ${unnamed.join(', ')}`);
      const kept = safetiesIn().filter((id) => !safetiesBefore.includes(id) && !output.includes(id));
      if (kept.length > 0) problems.push(`safety snapshots left and not named in the output: ${kept.join(', ')}`);
    }
    // A run that did not complete must say why: its CLI's last line, in the row.
    const reason = status === 'COMPLETED' ? '' : `: "${result.stderr.trim().split('\n').at(-1)?.slice(0, 300) ?? ''}"`;
    if (status !== 'COMPLETED' && reason.length <= 4) problems.push('the run did not complete and the CLI gave no reason');
    const note = [struck.note, injected.note].filter(Boolean).map((text) => `, ${text}`).join('');
    return row(`${status.toLowerCase()}${reason}, CLI exit ${result.code}${note} (${workflowId})`, problems);
  }
}
