/**
 * What each test file needs: private PostgreSQL and Redis instances in a temporary folder, a worker on
 * a task queue of its own (against the suite's Temporal dev server, see test/run.ts), and the CLI run
 * as a real process with a controlled environment.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { WorkerPair } from '../../worker/worker-pair';
import { Client, Connection } from '@temporalio/client';
import { loadConfig } from '../../core/config';
import { startLocalRedis, type LocalRedis } from '../../activities/redis/local-server';
import { startLocalPostgres, type LocalPostgres } from '../../devstack/postgres';
import { freePort } from '../../devstack/ports';
import { createWorker } from '../../worker/worker';

export { CLI } from '../../devstack/cli';

export function temporalAddress(): string {
  const address = process.env.TEST_TEMPORAL_ADDRESS;
  if (!address) throw new Error('TEST_TEMPORAL_ADDRESS is not set: run the suite with `npm test`');
  return address;
}

/** A temporary folder others may traverse: PostgreSQL runs as its own user inside it when we are root. */
export function scratchDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), `scholaria-${prefix}-`));
  chmodSync(dir, 0o755);
  return dir;
}

export interface Stores {
  dir: string;
  postgres: LocalPostgres;
  redis: LocalRedis;
  /** The application database on the private PostgreSQL. */
  databaseUrl: string;
  stop(): Promise<void>;
}

/** Private PostgreSQL and Redis; Redis sends its RDB at once instead of waiting 5 s for more replicas. */
export async function startStores(name: string): Promise<Stores> {
  const dir = scratchDir(name);
  const postgres = await startLocalPostgres({ dir: join(dir, 'postgres') });
  const redis = await startLocalRedis({
    dir: join(dir, 'redis'),
    port: await freePort(),
    extraArgs: ['--repl-diskless-sync-delay', '0'],
  });
  return {
    dir,
    postgres,
    redis,
    databaseUrl: postgres.url('scholaria'),
    stop: async () => {
      await redis.stop();
      await postgres.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The environment a user would export: stores, backup and log folders, Temporal. */
export function environmentFor(stores: Stores, overrides: Record<string, string | undefined> = {}): Record<string, string> {
  const env: Record<string, string | undefined> = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    BACKUP_DIR: join(stores.dir, 'backup'),
    LOG_DIR: join(stores.dir, 'logs'),
    LOG_LEVEL: 'warn',
    POSTGRES_URL: stores.databaseUrl,
    REDIS_URL: stores.redis.url,
    BACKUP_COMPONENTS: 'postgres,redis',
    BACKUP_APPLY_SCHEDULES: 'false',
    TEMPORAL_ADDRESS: temporalAddress(),
    TEMPORAL_TASK_QUEUE: `test-${process.pid}-${Math.random().toString(36).slice(2, 8)}`,
    BACKUP_WORKFLOW_BUNDLE: process.env.BACKUP_WORKFLOW_BUNDLE,
    ...overrides,
  };
  return Object.fromEntries(Object.entries(env).filter(([, value]) => value !== undefined)) as Record<string, string>;
}

export interface RunningWorker {
  worker: WorkerPair;
  stop(): Promise<void>;
}

/** A worker inside the test process, configured from `env` exactly as the CLI's `worker` would be. */
export async function startWorker(env: Record<string, string>): Promise<RunningWorker> {
  const { worker, connection, metrics } = await createWorker(loadConfig(env), { workflowBundlePath: env.BACKUP_WORKFLOW_BUNDLE });
  const running = worker.run();
  return {
    worker,
    stop: async () => {
      if (worker.getState() === 'RUNNING') worker.shutdown();
      await running;
      metrics?.close();
      await connection.close();
    },
  };
}

export { runCli, type CliResult } from '../../devstack/cli';

export async function temporalClient(): Promise<Client> {
  return new Client({ connection: await Connection.connect({ address: temporalAddress() }) });
}

/** Runs a command and returns its stdout; fails the test with stderr when it exits non-zero. */
export function run(command: string, args: string[], options: { env?: NodeJS.ProcessEnv; input?: string; cwd?: string } = {}): string {
  const result = spawnSync(command, args, {
    env: options.env ?? process.env,
    input: options.input,
    cwd: options.cwd,
    encoding: 'utf8',
    maxBuffer: 1 << 28,
  });
  if (result.status !== 0) throw new Error(`${command} ${args.join(' ')} exited ${result.status}: ${result.stderr}`);
  return result.stdout;
}
