/**
 * Runs an operator would look up in the Temporal Web UI, made for real: a dev server with its UI,
 * private PostgreSQL and Redis with sample data, a worker, a daily backup through the CLI, then a
 * restore of that set in which Redis fails halfway (a Redis user that may not write keys starting
 * with "r") so PostgreSQL, already restored, is rolled back. Then headless Chromium (Debian's
 * `chromium`, no browser download) opens each run's page. Used by `npm run ui:screenshot` and by
 * test/ui.test.ts.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { dirname, join } from 'node:path';
import { Redis } from 'ioredis';
import { Client } from 'pg';
import { startLocalRedis, type LocalRedis } from '../activities/redis/local-server';
import { loadConfig } from '../core/config';
import { createWorker } from '../worker/worker';
import { startLocalPostgres, type LocalPostgres } from './postgres';
import { bundleWorkflows } from '../worker/bundle';
import { runCli } from './cli';
import { freePort } from './ports';
import { seedPostgres, seedRedis, type SeedScale } from './seed';
import { startTemporalDevServer, type DevServer } from './temporal';

/** Small enough to take seconds, large enough that every step has something to do. */
const SCALE: SeedScale = { users: 20, topicsPerUser: 3, contextsPerTopic: 4, chunksPerContext: 10, sessions: 200 };

export interface RunLink {
  workflowId: string;
  /** The run's page in the Web UI (its history). */
  url: string;
}

export interface UiRuns {
  dir: string;
  uiUrl: string;
  address: string;
  namespace: string;
  /** The environment the CLI ran with (TEMPORAL_ADDRESS, BACKUP_DIR...). */
  env: Record<string, string>;
  backup: RunLink & { set: string };
  restore: RunLink & { failure: string };
  stop(): Promise<void>;
}

/** Starts everything in a temporary folder and makes the two runs; `stop()` ends it all and removes the folder. */
export async function makeUiRuns(say: (line: string) => void = () => undefined): Promise<UiRuns> {
  const dir = mkdtempSync(join(tmpdir(), 'scholaria-ui-'));
  // PostgreSQL runs as its own user inside it when we are root.
  chmodSync(dir, 0o755);
  const stops: (() => Promise<void>)[] = [];
  const stop = async () => {
    for (const step of stops.reverse()) await step().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    say('starting a Temporal dev server with its Web UI, PostgreSQL and Redis');
    const server: DevServer = await startTemporalDevServer({ uiPort: await freePort(), logFile: join(dir, 'temporal.log') });
    stops.push(() => server.stop());
    const postgres: LocalPostgres = await startLocalPostgres({ dir: join(dir, 'postgres') });
    stops.push(() => postgres.stop());
    const redis: LocalRedis = await startLocalRedis({ dir: join(dir, 'redis'), port: await freePort(), extraArgs: ['--repl-diskless-sync-delay', '0'] });
    stops.push(() => redis.stop());

    const bundle = process.env.BACKUP_WORKFLOW_BUNDLE ?? join(dir, 'workflow-bundle.js');
    if (!process.env.BACKUP_WORKFLOW_BUNDLE) {
      say('bundling the workflows');
      await bundleWorkflows(bundle);
    }

    say('seeding sample data');
    await sql(postgres.url(), 'CREATE DATABASE scholaria');
    await seedPostgres(postgres.url('scholaria'), SCALE);
    await seedRedis(redis.url, SCALE);

    const env: Record<string, string> = {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      HOME: process.env.HOME ?? dir,
      BACKUP_DIR: join(dir, 'backup'),
      LOG_DIR: join(dir, 'logs'),
      LOG_LEVEL: 'warn',
      POSTGRES_URL: postgres.url('scholaria'),
      REDIS_URL: redis.url,
      BACKUP_COMPONENTS: 'postgres,redis',
      BACKUP_APPLY_SCHEDULES: 'false',
      TEMPORAL_ADDRESS: server.address,
      TEMPORAL_UI_URL: server.uiUrl!,
      TEMPORAL_TASK_QUEUE: 'scholaria-backup',
      BACKUP_WORKFLOW_BUNDLE: bundle,
    };
    stops.push(await startWorker(env));

    say('scholaria-backup backup --tier daily');
    const backup = await runCli(['backup', '--tier', 'daily'], env);
    if (backup.code !== 0) throw new Error(`the backup failed: ${backup.stderr || backup.stdout}`);
    const backupRun = startedRun(backup.stdout, 'Backup');
    const set = /Backup set: \S*\/(scholaria_backup_\d{8}_\d{6})/.exec(backup.stdout)?.[1];
    if (!set) throw new Error(`no set in the backup's output: ${backup.stdout}`);

    // The injected failure, as in test/restore.test.ts: a Redis user that may not use REPLICAOF, so the
    // restore copies key by key, and may not write keys starting with "r", so RESTORE of db2's ratelimit:uploads is refused halfway, after FLUSHALL. The state
    // before the restore holds no such key, so the rollback (which writes the keys it had) succeeds.
    say(`scholaria-backup restore ${set} --yes, with Redis refusing keys that start with "r"`);
    const admin = new Redis(redis.url);
    try {
      await admin.acl('SETUSER', 'restorer', 'on', '>restorer-pass', '~[^r]*', '+@all', '-replicaof');
      await admin.select(2);
      await admin.del('ratelimit:uploads');
    } finally {
      admin.disconnect();
    }
    const limited = { ...env, REDIS_URL: `redis://restorer:restorer-pass@127.0.0.1:${redis.port}`, TEMPORAL_TASK_QUEUE: 'scholaria-backup-limited' };
    stops.push(await startWorker(limited));
    const restore = await runCli(['restore', set, '--yes'], limited);
    if (restore.code === 0) throw new Error(`the restore was meant to fail and roll back, but it succeeded: ${restore.stdout}`);
    if (!/PostgreSQL: rolled back/.test(restore.stdout)) throw new Error(`PostgreSQL was not rolled back: ${restore.stdout}${restore.stderr}`);
    const restoreRun = startedRun(restore.stdout, 'Restore');

    return {
      dir,
      uiUrl: server.uiUrl!,
      address: server.address,
      namespace: 'default',
      env,
      backup: { ...backupRun, set },
      restore: { ...restoreRun, failure: restore.stderr.trim().replace(/^scholaria-backup: /, '') },
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** The run's page with its Timeline tab: one bar per activity, named `<verb><Store>` with its summary. */
export function timelineUrl(historyUrl: string): string {
  return historyUrl.replace(/\/history$/, '/timeline');
}

/** `Backup backup-daily-… started: http://…/history` → the id and the link. */
function startedRun(stdout: string, word: string): RunLink {
  const match = new RegExp(`^${word} (\\S+) started: (\\S+)$`, 'm').exec(stdout);
  if (!match) throw new Error(`no "${word} … started" line in: ${stdout}`);
  return { workflowId: match[1]!, url: match[2]! };
}

/** A worker in this process; quiet, since the restore's failure is meant (the CLI reports it). */
async function startWorker(env: Record<string, string>): Promise<() => Promise<void>> {
  const { worker, connection } = await createWorker(loadConfig({ ...env, LOG_LEVEL: 'fatal' }), { workflowBundlePath: env.BACKUP_WORKFLOW_BUNDLE });
  const running = worker.run();
  return async () => {
    if (worker.getState() === 'RUNNING') worker.shutdown();
    await running;
    await connection.close();
  };
}


async function sql(url: string, text: string): Promise<void> {
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(text);
  } finally {
    await client.end();
  }
}


// ---------------------------------------------------------------------------------------------
// Headless Chromium

const CHROMIUM_NAMES = ['chromium', 'chromium-browser'];

export function findChromium(): string | undefined {
  if (process.env.CHROMIUM && existsSync(process.env.CHROMIUM)) return process.env.CHROMIUM;
  for (const name of CHROMIUM_NAMES) {
    const found = spawnSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' }).stdout.trim();
    if (found) return found;
  }
  return undefined;
}

/**
 * Debian's `chromium`: found, or installed with apt-get when running as root. Otherwise the line
 * that says what to install.
 */
export function ensureChromium(say: (line: string) => void = () => undefined): { path: string } | { missing: string } {
  const found = findChromium();
  if (found) return { path: found };
  const install = "Debian's chromium package (apt-get install chromium)";
  if (userInfo().uid !== 0) return { missing: `headless Chromium is missing and only root can install it: install ${install}` };
  say("installing Debian's chromium package with apt-get");
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const apt = (args: string[]) => spawnSync('apt-get', args, { env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  let result = apt(['install', '-y', '--no-install-recommends', 'chromium']);
  if (result.status !== 0) {
    // A fresh machine has no package lists yet.
    apt(['update']);
    result = apt(['install', '-y', '--no-install-recommends', 'chromium']);
  }
  const path = findChromium();
  if (path) return { path };
  return { missing: `could not install ${install}: ${(result.stderr || result.stdout || '').trim().split('\n').at(-1) ?? ''}` };
}

export interface BrowserOptions {
  width?: number;
  height?: number;
  /** Virtual milliseconds the page gets to load and render before the screenshot or the DOM dump. */
  virtualTimeMs?: number;
}

function runChromium(chromium: string, url: string, action: string[], options: BrowserOptions): string {
  // A fresh profile each time: nothing cached, nothing remembered between runs.
  const profile = mkdtempSync(join(tmpdir(), 'scholaria-chromium-'));
  const args = [
    '--headless',
    '--no-sandbox',
    '--disable-gpu',
    '--disable-quic',
    '--no-first-run',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
    '--disable-dev-shm-usage',
    '--hide-scrollbars',
    `--user-data-dir=${profile}`,
    `--window-size=${options.width ?? 1440},${options.height ?? 1500}`,
    `--virtual-time-budget=${options.virtualTimeMs ?? 15_000}`,
    ...action,
    url,
  ];
  try {
    const result = spawnSync(chromium, args, { encoding: 'utf8', maxBuffer: 1 << 26, timeout: 120_000 });
    if (result.error) throw result.error;
    if (result.status !== 0) throw new Error(`chromium exited ${result.status}: ${result.stderr.trim().split('\n').slice(-3).join(' | ')}`);
    return result.stdout;
  } finally {
    rmSync(profile, { recursive: true, force: true });
  }
}

/** Saves a PNG of the page as a person would see it after it loaded. */
export function screenshot(chromium: string, url: string, file: string, options: BrowserOptions = {}): void {
  mkdirSync(dirname(file), { recursive: true });
  rmSync(file, { force: true });
  runChromium(chromium, url, [`--screenshot=${file}`], options);
  if (!existsSync(file) || readFileSync(file).length === 0) throw new Error(`chromium wrote no screenshot to ${file}`);
}

/** The page's DOM after it loaded and rendered (the single-page app included). */
export function dumpDom(chromium: string, url: string, options: BrowserOptions = {}): string {
  return runChromium(chromium, url, ['--dump-dom'], options);
}
