/**
 * The embedded default stack of the demo and dev mode, kept in the project's git-ignored `.stack/`:
 * a Temporal dev server with a persistent SQLite file and its Web UI, and private PostgreSQL and
 * Redis on free ports. They stay up between runs (so the Web UI links keep working) until
 * `npm run stop`; a later run finds and reuses them through `.stack/stack.json`.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { connectOnce } from '../activities/redis/connection';
import { Client } from 'pg';
import { clusterDirectoryFor, startLocalPostgres, stopLocalPostgres } from './postgres';
import { freePort, isPortOpen, portOrFree, waitFor } from './ports';
import { startTemporalDevServer } from './temporal';
import { PROJECT_ROOT } from './tools';

/** `.stack/` in the project; SCHOLARIA_STACK_DIR moves it (the demo's own test runs it in a temporary folder). */
export const STACK_DIR = process.env.SCHOLARIA_STACK_DIR ?? join(PROJECT_ROOT, '.stack');
const STATE_FILE = join(STACK_DIR, 'stack.json');

interface StackState {
  temporal?: { pid: number; port: number; uiPort: number };
  postgres?: { port: number; dir: string };
  redis?: { port: number };
}

function readState(): StackState {
  try {
    return JSON.parse(readFileSync(STATE_FILE, 'utf8')) as StackState;
  } catch {
    return {};
  }
}

function writeState(state: StackState): void {
  mkdirSync(STACK_DIR, { recursive: true });
  writeFileSync(STATE_FILE, `${JSON.stringify(state, null, 2)}\n`);
}

export interface TemporalEndpoint {
  address: string;
  uiUrl: string;
  reused: boolean;
}

export async function ensureTemporal(): Promise<TemporalEndpoint> {
  const state = readState();
  if (state.temporal && (await isPortOpen(state.temporal.port)) && isAlive(state.temporal.pid)) {
    return { address: `127.0.0.1:${state.temporal.port}`, uiUrl: `http://127.0.0.1:${state.temporal.uiPort}`, reused: true };
  }
  const port = await portOrFree(7233);
  const uiPort = await portOrFree(8233);
  const server = await startTemporalDevServer({
    port,
    uiPort,
    dbFile: join(STACK_DIR, 'temporal', 'temporal.db'),
    logFile: join(STACK_DIR, 'temporal', 'temporal.log'),
    detached: true,
  });
  writeState({ ...readState(), temporal: { pid: server.pid, port, uiPort } });
  return { address: server.address, uiUrl: server.uiUrl!, reused: false };
}

/** The superuser URL of the stack's PostgreSQL (started when needed). */
export async function ensurePostgres(): Promise<string> {
  const state = readState();
  const url = (port: number) => `postgresql://postgres@127.0.0.1:${port}/postgres`;
  if (state.postgres && (await canQuery(url(state.postgres.port)))) return url(state.postgres.port);
  const dir = state.postgres?.dir ?? clusterDirectoryFor(join(STACK_DIR, 'postgres'));
  const instance = await startLocalPostgres({ dir, port: state.postgres?.port ?? (await freePort()) });
  writeState({ ...readState(), postgres: { port: instance.port, dir } });
  return instance.url();
}

/** The URL of the stack's Redis (started when needed), a daemon that keeps nothing on disk. */
export async function ensureRedis(): Promise<string> {
  const state = readState();
  const url = (port: number) => `redis://127.0.0.1:${port}`;
  if (state.redis && (await canPing(url(state.redis.port)))) return url(state.redis.port);
  const port = state.redis?.port && !(await isPortOpen(state.redis.port)) ? state.redis.port : await freePort();
  const dir = join(STACK_DIR, 'redis');
  mkdirSync(dir, { recursive: true });
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--daemonize', 'yes', '--dir', dir, '--pidfile', join(dir, 'redis.pid'),
    '--logfile', join(dir, 'redis.log'), '--save', '', '--appendonly', 'no', '--repl-diskless-sync-delay', '0'];
  await new Promise<void>((resolve, reject) => {
    const child = spawn('redis-server', args, { stdio: 'ignore' });
    child.once('error', (error) => reject(new Error(`cannot start redis-server: ${error.message}`)));
    child.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`redis-server exited with ${code}; see ${dir}/redis.log`))));
  });
  await waitFor(`Redis on port ${port}`, () => canPing(url(port)), 15_000);
  writeState({ ...readState(), redis: { port } });
  return url(port);
}

/** Stops everything the stack started; its data stays in `.stack/` for the next run. */
export async function stopStack(): Promise<string[]> {
  const state = readState();
  const stopped: string[] = [];
  if (state.temporal && isAlive(state.temporal.pid)) {
    process.kill(state.temporal.pid, 'SIGTERM');
    stopped.push(`Temporal dev server (pid ${state.temporal.pid})`);
  }
  if (state.redis && (await canPing(`redis://127.0.0.1:${state.redis.port}`))) {
    const redis = await connectOnce(`redis://127.0.0.1:${state.redis.port}`);
    await redis.shutdown('NOSAVE').catch(() => undefined);
    redis.disconnect();
    stopped.push(`Redis (port ${state.redis.port})`);
  }
  if (state.postgres?.dir && stopLocalPostgres(state.postgres.dir)) stopped.push(`PostgreSQL (port ${state.postgres.port})`);
  rmSync(STATE_FILE, { force: true });
  return stopped;
}

/** Whether a process of this id exists (signal 0 only asks). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function canQuery(url: string): Promise<boolean> {
  const client = new Client({ connectionString: url, connectionTimeoutMillis: 2000 });
  try {
    await client.connect();
    await client.query('SELECT 1');
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => undefined);
  }
}

async function canPing(url: string): Promise<boolean> {
  let redis;
  try {
    redis = await connectOnce(url, 1000);
    return (await redis.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    redis?.disconnect();
  }
}
