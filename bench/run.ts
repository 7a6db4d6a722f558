/**
 * `npm run bench` (issue 6): the product's backup and restore against the specification's shell script
 * (a) and the best hand-tuned shell pipeline (b), on a reference dataset built once per scale.
 *
 *   node --import tsx bench/run.ts [--scale small|default|<GB>] [--runs 3] [--ways a,b,c]
 *                                  [--profile gzip|zstd|all] [--gzip-level 6] [--zstd-level 3]
 *                                  [--no-restore] [--no-overhead] [--rebuild] [--prepare]
 *                                  [--results-dir bench-results] [--cache bench-results/dataset]
 *                                  [--temporal-address host:port]
 *
 * Everything runs privately: PostgreSQL and Redis from the dataset cache on free ports, a headless
 * Temporal dev server (unless --temporal-address), the worker as its own process. The ways alternate
 * (a, b, c, then the restores a, b, c) for every repetition, each writing into a fresh folder that is
 * removed afterwards; the table shows medians and the JSON keeps every run.
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync, chmodSync } from 'node:fs';
import { cpus, hostname, loadavg, release, totalmem } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { Client as PgClient } from 'pg';
import { connectOnce } from '../activities/redis/connection';
import { startLocalRedis } from '../activities/redis/local-server';
import { isAlive } from '../devstack/local-stack';
import { freePort } from '../devstack/ports';
import { PROJECT_ROOT } from '../devstack/tools';
import { checkDataset, openDataset, parseScale, type Dataset, type DatasetMarker, type Scale } from './dataset';
import { startOrchestrator, startWorkerProcess, runCli, workflowTimeline, type Orchestrator, type WorkerProcess, type WorkflowTimeline } from './product';
import { ownChildrenCpuSeconds, peakRssBytes, resetPeakRss, RssSampler, treeCpuSeconds, treeRssBytes } from './proc';
import {
  formatPhases,
  formatTable,
  formatTargets,
  median,
  ratio,
  summarize,
  target,
  type Measurement,
  type SummaryRow,
  type Target,
} from './report';
import { artefactKind, parallelGzip, profileFor, WAY_LABELS, type Operation, type Profile, type ProfileName, type Way } from './ways';

export interface BenchOptions {
  scale: Scale;
  runs: number;
  ways: Way[];
  profiles: ProfileName[];
  levels: { gzip: number; zstd: number };
  restore: boolean;
  overhead: boolean;
  rebuild: boolean;
  /** Only build (or check) the dataset, measure nothing. */
  prepare: boolean;
  resultsDir: string;
  cacheDir: string;
  temporalAddress?: string;
  workflowBundle?: string;
}

export interface OverheadResult {
  runs: number;
  /** `scholaria-backup backup` of near-empty stores, as a user waits for it (CLI start included). */
  cliWallSeconds: { median: number; min: number; max: number };
  /** The backup workflow itself, first to last history event. */
  workflowSeconds: number;
  /** Of that, time when no activity ran (workflow tasks, queueing). */
  idleSeconds: number;
  activities: Record<string, number>;
  /** `scholaria-backup list` on an empty folder: what starting the CLI costs. */
  cliStartSeconds: number;
  /** (a) on the same near-empty stores, for reference. */
  shellWallSeconds?: number;
  perRun: { cliWallSeconds: number; workflowSeconds: number; idleSeconds: number }[];
}

export interface BenchResult {
  schema: 'scholaria-backup/bench';
  version: 1;
  startedAt: string;
  finishedAt: string;
  options: Omit<BenchOptions, 'scale'> & { scale: Scale };
  machine: Record<string, unknown>;
  dataset: DatasetMarker & { reused: boolean };
  notes: string[];
  rows: SummaryRow[];
  ratios: Record<string, number | undefined>;
  targets: Target[];
  overhead?: OverheadResult;
  /** Worker peaks of earlier runs at other scales, for "not growing with the dataset". */
  otherScales: { file: string; scale: string; dbBytes: number; workerPeakBytes?: number }[];
  /** The worker's resident memory once started, before its first run. */
  workerIdleRss: Partial<Record<ProfileName, number>>;
  measurements: Measurement[];
}

type Log = (line: string) => void;

const USAGE = `usage: npm run bench -- [--scale small|default|<GB>] [--runs N] [--ways a,b,c] [--profile gzip|zstd|all]
                       [--gzip-level N] [--zstd-level N] [--no-restore] [--no-overhead] [--rebuild] [--prepare]
                       [--results-dir DIR] [--cache DIR] [--temporal-address HOST:PORT]`;

export function parseOptions(argv: string[]): BenchOptions {
  const { values } = parseArgs({
    args: argv,
    options: {
      scale: { type: 'string', default: 'default' },
      runs: { type: 'string', default: '3' },
      ways: { type: 'string', default: 'a,b,c' },
      profile: { type: 'string', default: 'gzip' },
      'gzip-level': { type: 'string', default: '6' },
      'zstd-level': { type: 'string', default: '3' },
      'no-restore': { type: 'boolean', default: false },
      'no-overhead': { type: 'boolean', default: false },
      rebuild: { type: 'boolean', default: false },
      prepare: { type: 'boolean', default: false },
      'results-dir': { type: 'string', default: join(PROJECT_ROOT, 'bench-results') },
      cache: { type: 'string' },
      'temporal-address': { type: 'string' },
      help: { type: 'boolean', default: false },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    process.exit(0);
  }
  const runs = Number(values.runs);
  if (!Number.isInteger(runs) || runs < 1 || runs > 50) throw new Error('--runs must be a whole number from 1 to 50');
  const ways = values.ways.split(',').map((way) => way.trim());
  if (ways.length === 0 || ways.some((way) => !['a', 'b', 'c'].includes(way))) throw new Error('--ways takes a comma-separated subset of a,b,c');
  const profiles: ProfileName[] = values.profile === 'all' ? ['gzip', 'zstd'] : [values.profile as ProfileName];
  if (profiles.some((p) => p !== 'gzip' && p !== 'zstd')) throw new Error('--profile must be gzip, zstd or all');
  const level = (name: string, text: string, max: number) => {
    const n = Number(text);
    if (!Number.isInteger(n) || n < 1 || n > max) throw new Error(`--${name} must be 1 to ${max}`);
    return n;
  };
  const resultsDir = resolve(values['results-dir']);
  return {
    scale: parseScale(values.scale),
    runs,
    ways: (['a', 'b', 'c'] as Way[]).filter((way) => ways.includes(way)),
    profiles,
    levels: { gzip: level('gzip-level', values['gzip-level'], 9), zstd: level('zstd-level', values['zstd-level'], 19) },
    restore: !values['no-restore'],
    overhead: !values['no-overhead'],
    rebuild: values.rebuild,
    prepare: values.prepare,
    resultsDir,
    cacheDir: resolve(values.cache ?? join(resultsDir, 'dataset')),
    ...(values['temporal-address'] ? { temporalAddress: values['temporal-address'] } : {}),
    ...(process.env.BACKUP_WORKFLOW_BUNDLE ? { workflowBundle: process.env.BACKUP_WORKFLOW_BUNDLE } : {}),
  };
}

/** Cleanups to run however the run ends, newest first. */
class Cleanups {
  private readonly steps: { what: string; run: () => Promise<void> | void }[] = [];
  add(what: string, run: () => Promise<void> | void): void {
    this.steps.unshift({ what, run });
  }
  async runAll(log: Log): Promise<void> {
    while (this.steps.length > 0) {
      const step = this.steps.shift()!;
      try {
        await step.run();
      } catch (error) {
        log(`cleanup (${step.what}) failed: ${(error as Error).message}`);
      }
    }
  }
}

export async function runBenchmark(options: BenchOptions, log: Log, cleanups = new Cleanups()): Promise<{ result: BenchResult; file: string }> {
  const startedAt = new Date();
  const stamp = startedAt.toISOString().replace(/[:]/g, '-').replace(/\.\d+Z$/, 'Z');
  mkdirSync(options.resultsDir, { recursive: true, mode: 0o755 });
  const work = join(options.resultsDir, `.work-${stamp}-${process.pid}`);
  mkdirSync(work, { recursive: true });
  chmodSync(work, 0o755);
  cleanups.add('work folder', () => rmSync(work, { recursive: true, force: true }));
  const notes: string[] = [
    'Redis runs with repl-diskless-sync-delay 0 (the default 5 s delay would be added to every way that streams the RDB: redis-cli --rdb and the product alike).',
    'PostgreSQL is the devstack cluster (fsync off, synchronous_commit off, shared_buffers 128MB); the same server serves every way.',
    'Page cache warm: the dataset is read by the check before the first run.',
  ];
  const gz = parallelGzip();
  const load = loadavg()[0]!;
  if (load > cpus().length * 0.5) {
    log(`the machine is busy (load ${load.toFixed(1)} on ${cpus().length} cores): figures will be noisy`);
    notes.push(`The machine was busy when the run started (1-minute load ${load.toFixed(1)} on ${cpus().length} cores); every run records its load (load1).`);
  }
  if (gz.tool !== 'pigz') notes.push('pigz is not installed: (b) compresses with single-threaded gzip, so it is not the fastest pipeline possible (apt-get install pigz).');

  takeLock(options.cacheDir, cleanups);
  log(`dataset ${options.scale.name} in ${relative(process.cwd(), options.cacheDir) || '.'}`);
  const dataset = await openDataset(options.cacheDir, options.scale, { rebuild: options.rebuild, log });
  cleanups.add('stores', () => dataset.stop());
  log(
    `dataset ${dataset.reused ? 'reused' : 'built'}: PostgreSQL ${mb(dataset.marker.dbBytes)} (${dataset.marker.rows.chunks} chunks), ` +
      `Redis ${sumValues(dataset.marker.keys)} keys, RDB ${mb(dataset.marker.rdbBytes)}`,
  );
  // Warm the page cache the same way for every run: the check reads every table.
  await checkDataset(dataset.databaseUrl, dataset.redis.url, dataset.marker);

  let orchestrator: Orchestrator | undefined;
  if (options.ways.includes('c') || options.overhead) {
    orchestrator = await startOrchestrator({
      dir: work,
      ...(options.temporalAddress ? { address: options.temporalAddress } : {}),
      ...(options.workflowBundle ? { bundlePath: options.workflowBundle } : {}),
      log,
    });
    cleanups.add('Temporal', () => orchestrator!.stop());
  }
  const productSource = readFileSync(join(PROJECT_ROOT, 'core', 'config.ts'), 'utf8');
  const measurements: Measurement[] = [];
  const rows: SummaryRow[] = [];
  const workerIdleRss: Partial<Record<ProfileName, number>> = {};

  for (const profileName of options.profiles) {
    const profile = profileFor(profileName, options.levels);
    const product = profile.product(productSource);
    let worker: WorkerProcess | undefined;
    if (options.ways.includes('c') && 'env' in product) {
      const cDir = join(work, `c-${profile.name}`);
      const env = baseEnv({
        BACKUP_DIR: join(cDir, 'backup'),
        LOG_DIR: join(cDir, 'logs'),
        LOG_LEVEL: 'info',
        POSTGRES_URL: dataset.databaseUrl,
        REDIS_URL: dataset.redis.url,
        BACKUP_COMPONENTS: 'postgres,redis',
        TEMPORAL_ADDRESS: orchestrator!.address,
        TEMPORAL_TASK_QUEUE: `bench-${process.pid}-${profile.name}`,
        BACKUP_WORKFLOW_BUNDLE: orchestrator!.bundlePath,
        ...product.env,
      });
      mkdirSync(env.BACKUP_DIR!, { recursive: true });
      worker = await startWorkerProcess(env, join(work, `worker-${profile.name}.log`));
      cleanups.add(`worker ${profile.name}`, () => worker!.stop());
      // A long-running worker has its workflow bundle loaded; a new one loads it on its first workflow task.
      // A dry run against the empty folder (it fails at once: no set) does that before anything is measured.
      const warmup = await runCli(['restore', 'latest', '--dry-run'], { ...env, LOG_LEVEL: 'warn' });
      if (!/restore-\S+ started/.test(warmup.stdout)) log(`warm-up did not start a workflow: ${(warmup.stderr || warmup.stdout).trim().slice(0, 300)}`);
      workerIdleRss[profile.name] = treeRssBytes(worker.pid);
      log(`${profile.name}: worker pid ${worker.pid} on task queue ${env.TEMPORAL_TASK_QUEUE}, ${mb(workerIdleRss[profile.name]!)} resident when idle`);
    }
    let notInEffect: string | undefined;
    for (let rep = 1; rep <= options.runs; rep++) {
      const outputs: Partial<Record<Way, string>> = {};
      for (const way of options.ways) {
        if (way === 'c' && (!worker || notInEffect)) continue;
        const load1 = loadavg()[0]!;
        const m = way === 'c'
          ? await backupProduct(profile, rep, worker!, orchestrator!, dataset)
          : await backupShell(profile, way, rep, work, dataset, gz);
        m.measurement.load1 = load1;
        measurements.push(m.measurement);
        savePartial(options, stamp, measurements);
        if (m.measurement.ok) outputs[way] = m.output;
        log(describe(m.measurement));
        if (way === 'c' && m.measurement.error?.includes('profile is not in effect')) {
          notInEffect = m.measurement.error;
          measurements.pop();
          log(`${profile.name}: (c) is not measured further: ${notInEffect}`);
        }
      }
      if (options.restore) {
        for (const way of options.ways) {
          if (way === 'c' && (!worker || notInEffect)) continue;
          const output = outputs[way];
          if (!output) {
            measurements.push(failed(profile.name, 'restore', way, rep, 'its backup failed'));
            continue;
          }
          const load1 = loadavg()[0]!;
          const m = way === 'c'
            ? await restoreProduct(profile, rep, worker!, orchestrator!, dataset, log)
            : await restoreShell(profile, way, rep, output, work, dataset, gz);
          m.load1 = load1;
          measurements.push(m);
          savePartial(options, stamp, measurements);
          log(describe(m));
        }
      }
      for (const way of options.ways) {
        if (way === 'c' && worker) clearFolder(worker.env.BACKUP_DIR!);
        else rmSync(join(work, `${way}-${profile.name}`), { recursive: true, force: true });
      }
    }
    if (worker) await worker.stop();
    for (const op of (options.restore ? ['backup', 'restore'] : ['backup']) as Operation[]) {
      for (const way of options.ways) {
        const unavailable = 'unavailable' in product ? product.unavailable : notInEffect;
        if (way === 'c' && unavailable) {
          rows.push({ profile: profile.name, operation: op, way, label: WAY_LABELS[op][way], available: false, note: unavailable, runs: 0, failures: 0 });
        } else {
          rows.push(summarize(profile.name, op, way, WAY_LABELS[op][way], measurements));
        }
      }
    }
  }

  // Artefacts: every way must write the same files (the product adds its manifest).
  for (const profile of options.profiles) {
    const written = options.ways.flatMap((way) => {
      const first = measurements.find((m) => m.profile === profile && m.operation === 'backup' && m.way === way && m.ok && m.files);
      return first ? [[way, first.files!.filter((name) => name !== 'backup_manifest.json').join(' ')] as const] : [];
    });
    if (new Set(written.map(([, names]) => names)).size > 1) {
      notes.push(`${profile}: the ways wrote different files: ${written.map(([way, names]) => `(${way}) ${names}`).join('; ')}`);
    } else if (written.length > 0) {
      notes.push(`${profile}: every way wrote the same files: ${written[0]![1]}${options.ways.includes('c') ? ' (and (c) its backup_manifest.json)' : ''}`);
    }
  }

  let overhead: OverheadResult | undefined;
  if (options.overhead && orchestrator) {
    overhead = await measureOverhead(options, work, dataset, orchestrator, cleanups, log);
  }

  const ratios: Record<string, number | undefined> = {};
  for (const profile of options.profiles) {
    for (const op of ['backup', 'restore'] as Operation[]) {
      ratios[`${profile} ${op} c/a`] = ratio(rows, profile, op, 'c', 'a');
      ratios[`${profile} ${op} c/b`] = ratio(rows, profile, op, 'c', 'b');
    }
  }
  const otherScales = earlierScales(options.resultsDir, options.scale.name);
  const workerPeak = Math.max(0, ...rows.filter((r) => r.way === 'c').map((r) => r.peakRss?.worker ?? 0)) || undefined;
  const targets: Target[] = [
    target('gzip backup c/a (wall)', ratios['gzip backup c/a'], '<=', 0.5, 'database read once, stores and compression in parallel'),
    target('gzip backup c/b (wall)', ratios['gzip backup c/b'], '<=', 1.1, 'orchestration costs almost nothing'),
    target('gzip restore c/a (wall)', ratios['gzip restore c/a'], '<=', 1.25, 'pg_restore -j2 plus RDB load, while verifying more'),
    target('worker peak RSS, MB', workerPeak === undefined ? undefined : workerPeak / 1e6, '<', 300,
      `max over backup and restore at ${options.scale.name}; other scales: ${otherScales.map((s) => `${s.scale} ${s.workerPeakBytes ? (s.workerPeakBytes / 1e6).toFixed(0) : '?'} MB`).join(', ') || 'none yet'}`),
    target('backup of near-empty stores via Temporal, s', overhead?.cliWallSeconds.median, '<', 3, 'CLI wall time, median'),
    target('zstd backup c/b (wall)', ratios['zstd backup c/b'], '<=', 1.1, 'within 1.1x of the fastest hand-written pipeline'),
  ];

  const result: BenchResult = {
    schema: 'scholaria-backup/bench',
    version: 1,
    startedAt: startedAt.toISOString(),
    finishedAt: new Date().toISOString(),
    options: { ...options },
    machine: machineInfo(gz.tool, dataset),
    dataset: { ...dataset.marker, reused: dataset.reused },
    notes,
    rows,
    ratios,
    targets,
    ...(overhead ? { overhead } : {}),
    otherScales,
    workerIdleRss,
    measurements,
  };
  const file = join(options.resultsDir, `${stamp}.json`);
  writeFileSync(file, `${JSON.stringify(result, null, 2)}\n`);
  rmSync(join(options.resultsDir, `${stamp}.partial.json`), { force: true });
  return { result, file };
}

/** The runs so far, so an interrupted benchmark still leaves its figures (`<stamp>.partial.json`). */
function savePartial(options: BenchOptions, stamp: string, measurements: Measurement[]): void {
  writeFileSync(join(options.resultsDir, `${stamp}.partial.json`), `${JSON.stringify({ schema: 'scholaria-backup/bench-partial', options, measurements }, null, 2)}\n`);
}

// ---------------------------------------------------------------------------------------------- the ways

interface BackupOutcome {
  measurement: Measurement;
  /** The folder holding the set, for the restore. */
  output: string;
}

function stampNow(): string {
  return new Date().toISOString().replace(/[-:]/g, '').replace('T', '_').slice(0, 15);
}

async function backupShell(profile: Profile, way: 'a' | 'b', rep: number, work: string, dataset: Dataset, gz: ReturnType<typeof parallelGzip>): Promise<BackupOutcome> {
  const out = join(work, `${way}-${profile.name}`, 'set');
  const tmp = join(work, `${way}-${profile.name}`, 'tmp');
  rmSync(join(work, `${way}-${profile.name}`), { recursive: true, force: true });
  mkdirSync(out, { recursive: true });
  mkdirSync(tmp, { recursive: true });
  const stamp = stampNow();
  const files = profile.files(stamp);
  const env = shellEnv(profile, dataset, gz, {
    OUT: out,
    TMPD: tmp,
    CUSTOM: files.custom,
    PLAIN: files.plain,
    GLOBALS: files.globals,
    RDB: files.rdb,
  });
  const run = await measureShell(way === 'a' ? profile.backupA : profile.backupB, env, dataset);
  const measurement: Measurement = {
    profile: profile.name,
    operation: 'backup',
    way,
    rep,
    ok: run.code === 0,
    ...(run.code !== 0 ? { error: run.stderr.trim().slice(-600) || `exit ${run.code}` } : {}),
    wallSeconds: run.wallSeconds,
    cpuSeconds: { client: run.clientCpu, servers: run.serverCpu, orchestration: 0 },
    peakRss: { tree: run.peakTree },
    ...artefactsOf(out),
  };
  if (measurement.ok) checkSums(out, measurement);
  return { measurement, output: out };
}

async function restoreShell(profile: Profile, way: 'a' | 'b', rep: number, output: string, work: string, dataset: Dataset, gz: ReturnType<typeof parallelGzip>): Promise<Measurement> {
  const tmp = join(work, `${way}-${profile.name}`, 'restore-tmp');
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  const names = readdirSync(output);
  const byKind = (kind: string) => names.find((name) => artefactKind(name) === kind) ?? '';
  const restoreDb = `${dataset.database}_bench_restore_${way}`;
  await dropDatabase(dataset, restoreDb);
  const env = shellEnv(profile, dataset, gz, {
    OUT: output,
    TMPD: tmp,
    CUSTOM: byKind('custom'),
    RDB: byKind('rdb'),
    RESTORE_DB: restoreDb,
    RESTORE_URL: dataset.postgres.url(restoreDb),
    RPORT: String(await freePort()),
  });
  const run = await measureShell(way === 'a' ? profile.restoreA : profile.restoreB, env, dataset);
  let error = run.code !== 0 ? run.stderr.trim().slice(-600) || `exit ${run.code}` : undefined;
  if (!error) {
    const rows = await countRows(dataset.postgres.url(restoreDb));
    if (rows !== dataset.marker.rows.chunks) error = `the restored database holds ${rows} chunks, the dataset ${dataset.marker.rows.chunks}`;
  }
  await dropDatabase(dataset, restoreDb);
  rmSync(tmp, { recursive: true, force: true });
  return {
    profile: profile.name,
    operation: 'restore',
    way,
    rep,
    ok: !error,
    ...(error ? { error } : {}),
    wallSeconds: run.wallSeconds,
    cpuSeconds: { client: run.clientCpu, servers: run.serverCpu, orchestration: 0 },
    peakRss: { tree: run.peakTree },
  };
}

async function backupProduct(profile: Profile, rep: number, worker: WorkerProcess, orchestrator: Orchestrator, dataset: Dataset): Promise<BackupOutcome> {
  const env = { ...worker.env, LOG_LEVEL: 'warn' };
  const run = await measureProduct(['backup', '--json', '--component', 'postgres,redis'], env, worker, orchestrator, dataset);
  let error = run.code !== 0 ? run.stderr.trim().slice(-600) || `exit ${run.code}` : undefined;
  let setPath = '';
  let workflowId: string | undefined;
  try {
    const parsed = JSON.parse(run.stdout) as { workflowId: string; set: { path: string; status: string } };
    setPath = parsed.set.path;
    workflowId = parsed.workflowId;
    if (parsed.set.status !== 'complete') error ??= `the set is ${parsed.set.status}`;
  } catch {
    error ??= `unreadable output: ${run.stdout.slice(0, 200)}`;
  }
  const measurement = productMeasurement(profile, 'backup', rep, run, error, workflowId);
  if (setPath && existsSync(setPath)) {
    Object.assign(measurement, artefactsOf(setPath));
    const stray = (measurement.files ?? []).filter((name) => /\.(gz|zst)$/.test(name) && !name.endsWith(profile.suffix));
    if (measurement.ok && stray.length > 0) {
      measurement.ok = false;
      measurement.error = `the product wrote ${stray.join(', ')}: the ${profile.name} profile is not in effect`;
    }
    try {
      const manifest = JSON.parse(readFileSync(join(setPath, 'backup_manifest.json'), 'utf8')) as {
        stores: Record<string, { phases?: { phase: string; ms: number }[] }>;
      };
      measurement.phases = Object.fromEntries(Object.entries(manifest.stores).map(([store, record]) => [store, record.phases ?? []]));
    } catch {
      // A partial set may lack phases; the error above says why.
    }
  }
  if (workflowId) measurement.timeline = await workflowTimeline(orchestrator.client, workflowId).catch(() => undefined);
  return { measurement, output: setPath };
}

async function restoreProduct(profile: Profile, rep: number, worker: WorkerProcess, orchestrator: Orchestrator, dataset: Dataset, log: Log): Promise<Measurement> {
  const env = { ...worker.env, LOG_LEVEL: 'warn' };
  const run = await measureProduct(['restore', 'latest', '--yes', '--component', 'postgres,redis'], env, worker, orchestrator, dataset);
  let error = run.code !== 0 ? (run.stderr.trim() || run.stdout.trim()).slice(-600) || `exit ${run.code}` : undefined;
  const workflowId = /(restore-\S+) started/.exec(run.stdout)?.[1];
  const timeline = workflowId ? await workflowTimeline(orchestrator.client, workflowId).catch(() => undefined) : undefined;
  // The product restored over the benchmark's own stores: settle them as the dataset was (frozen,
  // analysed) so the next repetition reads the same kind of pages, and check nothing was lost.
  const settled = Date.now();
  await settleDatabase(dataset);
  const problem = await checkDataset(dataset.databaseUrl, dataset.redis.url, dataset.marker);
  if (problem) {
    rmSync(join(dirnameOfMarker(dataset), `${dataset.scale.name}.json`), { force: true });
    throw new Error(`after the product's restore the dataset is not intact (${problem}); its marker was removed so the next run rebuilds it`);
  }
  log(`  (settled the restored database in ${((Date.now() - settled) / 1000).toFixed(1)} s, dataset intact)`);
  if (!error && !workflowId) error = 'no workflow id in the output';
  return { ...productMeasurement(profile, 'restore', rep, run, error, workflowId), ...(timeline ? { timeline } : {}) };
}

/** What one run of (c) measured, backup or restore alike. */
function productMeasurement(
  profile: Profile,
  operation: 'backup' | 'restore',
  rep: number,
  run: Awaited<ReturnType<typeof measureProduct>>,
  error: string | undefined,
  workflowId: string | undefined,
): Measurement {
  return {
    profile: profile.name,
    operation,
    way: 'c',
    rep,
    ok: !error,
    ...(error ? { error } : {}),
    wallSeconds: run.wallSeconds,
    cpuSeconds: { client: run.clientCpu, servers: run.serverCpu, orchestration: run.orchestrationCpu },
    peakRss: { worker: run.workerPeak, tree: run.peakTree },
    ...(workflowId ? { workflowId } : {}),
  };
}

// ---------------------------------------------------------------------------------------------- measuring

const runningShells = new Set<number>();

interface ShellRun {
  code: number;
  stderr: string;
  wallSeconds: number;
  clientCpu: number;
  serverCpu: number;
  peakTree: number;
}

function serverCpu(dataset: Dataset): number {
  const postmaster = dataset.postgresPid();
  return (postmaster ? treeCpuSeconds(postmaster) : 0) + treeCpuSeconds(dataset.redisPid);
}

/** Runs a way's bash script: wall time (to its `ready` line when it prints one), CPU of its tree and of the servers. */
function measureShell(script: string, env: Record<string, string>, dataset: Dataset): Promise<ShellRun> {
  return new Promise((resolvePromise, reject) => {
    const server0 = serverCpu(dataset);
    const cpu0 = ownChildrenCpuSeconds();
    const started = Date.now();
    // Its own process group, so an interrupted benchmark can end the whole pipeline.
    const child = spawn('bash', ['-c', script], { env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    if (child.pid) runningShells.add(child.pid);
    const sampler = new RssSampler(() => child.pid).start();
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (text: string) => (stdout += text));
    child.stderr.setEncoding('utf8').on('data', (text: string) => (stderr = (stderr + text).slice(-8000)));
    child.once('error', reject);
    child.once('close', (code) => {
      const ended = Date.now();
      if (child.pid) runningShells.delete(child.pid);
      sampler.stop();
      const ready = /^ready (\d+)$/m.exec(stdout);
      const readyAt = ready ? Number(BigInt(ready[1]!) / 1_000_000n) : ended;
      resolvePromise({
        code: code ?? 1,
        stderr,
        wallSeconds: (Math.min(readyAt, ended) - started) / 1000,
        clientCpu: ownChildrenCpuSeconds() - cpu0,
        serverCpu: serverCpu(dataset) - server0,
        peakTree: sampler.peakTreeBytes,
      });
    });
  });
}

interface ProductRun {
  code: number;
  stdout: string;
  stderr: string;
  wallSeconds: number;
  clientCpu: number;
  serverCpu: number;
  orchestrationCpu: number;
  workerPeak?: number;
  peakTree: number;
}

async function measureProduct(args: string[], env: Record<string, string>, worker: WorkerProcess, orchestrator: Orchestrator, dataset: Dataset): Promise<ProductRun> {
  const canReset = resetPeakRss(worker.pid);
  const sampler = new RssSampler(() => worker.pid).start();
  const server0 = serverCpu(dataset);
  const worker0 = treeCpuSeconds(worker.pid);
  const temporal0 = orchestrator.pid ? treeCpuSeconds(orchestrator.pid) : 0;
  const cpu0 = ownChildrenCpuSeconds();
  const started = Date.now();
  const run = await runCli(args, env);
  const wallSeconds = (Date.now() - started) / 1000;
  sampler.stop();
  sampler.sample();
  const hwm = peakRssBytes(worker.pid);
  return {
    ...run,
    wallSeconds,
    clientCpu: ownChildrenCpuSeconds() - cpu0 + (treeCpuSeconds(worker.pid) - worker0),
    serverCpu: serverCpu(dataset) - server0,
    orchestrationCpu: orchestrator.pid ? treeCpuSeconds(orchestrator.pid) - temporal0 : 0,
    workerPeak: canReset && hwm !== undefined ? hwm : sampler.peakRootBytes,
    peakTree: sampler.peakTreeBytes,
  };
}

/** The ratio targets are about a near-empty backup's fixed cost: measured with a worker on empty stores. */
async function measureOverhead(options: BenchOptions, work: string, dataset: Dataset, orchestrator: Orchestrator, cleanups: Cleanups, log: Log): Promise<OverheadResult> {
  const emptyDb = 'scholaria_empty';
  const admin = new PgClient({ connectionString: dataset.postgres.url() });
  await admin.connect();
  try {
    await admin.query(`DROP DATABASE IF EXISTS ${emptyDb} WITH (FORCE)`);
    await admin.query(`CREATE DATABASE ${emptyDb}`);
  } finally {
    await admin.end();
  }
  const db = new PgClient({ connectionString: dataset.postgres.url(emptyDb) });
  await db.connect();
  await db.query('CREATE TABLE notes (id int PRIMARY KEY, body text); INSERT INTO notes VALUES (1, $$a$$), (2, $$b$$), (3, $$c$$)');
  await db.end();
  const redis = await startLocalRedis({ dir: join(work, 'empty-redis'), port: await freePort(), extraArgs: ['--repl-diskless-sync-delay', '0'] });
  cleanups.add('empty Redis', () => redis.stop());
  const client = await connectOnce(redis.url);
  await client.mset('a', '1', 'b', '2', 'c', '3');
  client.disconnect();

  const dir = join(work, 'overhead');
  const env = baseEnv({
    BACKUP_DIR: join(dir, 'backup'),
    LOG_DIR: join(dir, 'logs'),
    LOG_LEVEL: 'info',
    POSTGRES_URL: dataset.postgres.url(emptyDb),
    REDIS_URL: redis.url,
    BACKUP_COMPONENTS: 'postgres,redis',
    TEMPORAL_ADDRESS: orchestrator.address,
    TEMPORAL_TASK_QUEUE: `bench-${process.pid}-empty`,
    BACKUP_WORKFLOW_BUNDLE: orchestrator.bundlePath,
  });
  mkdirSync(env.BACKUP_DIR!, { recursive: true });
  const worker = await startWorkerProcess(env, join(work, 'worker-empty.log'));
  cleanups.add('empty worker', () => worker.stop());
  // One run first that is not counted: a new worker's first workflow task loads the bundle.
  const runs = options.runs;
  const walls: number[] = [];
  const timelines: WorkflowTimeline[] = [];
  for (let i = -1; i < runs; i++) {
    const started = Date.now();
    const run = await runCli(['backup', '--json', '--component', 'postgres,redis'], { ...env, LOG_LEVEL: 'warn' });
    const wall = (Date.now() - started) / 1000;
    if (run.code !== 0) throw new Error(`the backup of near-empty stores failed: ${run.stderr.trim().slice(-400)}`);
    const { workflowId } = JSON.parse(run.stdout) as { workflowId: string };
    if (i >= 0) {
      walls.push(wall);
      timelines.push(await workflowTimeline(orchestrator.client, workflowId));
    }
    clearFolder(env.BACKUP_DIR!);
    // Set names have a resolution of one second.
    await new Promise((r) => setTimeout(r, 1000));
  }
  const started = Date.now();
  await runCli(['list', '--json'], { ...env, LOG_LEVEL: 'warn' });
  const cliStartSeconds = (Date.now() - started) / 1000;
  await worker.stop();

  // (a) on the same stores, for reference.
  const profile = profileFor('gzip', options.levels);
  const out = join(dir, 'a');
  mkdirSync(join(out, 'tmp'), { recursive: true });
  const files = profile.files(stampNow());
  const shell = await measureShell(
    profile.backupA,
    shellEnv(profile, { databaseUrl: dataset.postgres.url(emptyDb), postgres: dataset.postgres, redis }, parallelGzip(), {
      OUT: out, TMPD: join(out, 'tmp'), CUSTOM: files.custom, PLAIN: files.plain, GLOBALS: files.globals, RDB: files.rdb,
    }),
    dataset,
  );
  await redis.stop();
  const names = [...new Set(timelines.flatMap((t) => t.activities.map((a) => a.activity)))];
  const result: OverheadResult = {
    runs,
    cliWallSeconds: { median: median(walls), min: Math.min(...walls), max: Math.max(...walls) },
    workflowSeconds: median(timelines.map((t) => t.workflowMs)) / 1000,
    idleSeconds: median(timelines.map((t) => t.idleMs)) / 1000,
    activities: Object.fromEntries(names.map((name) => [name, median(timelines.map((t) => t.activities.filter((a) => a.activity === name).reduce((s, a) => s + a.runMs, 0)))])),
    cliStartSeconds,
    ...(shell.code === 0 ? { shellWallSeconds: shell.wallSeconds } : {}),
    perRun: walls.map((wall, i) => ({ cliWallSeconds: wall, workflowSeconds: timelines[i]!.workflowMs / 1000, idleSeconds: timelines[i]!.idleMs / 1000 })),
  };
  log(`overhead: backup of near-empty stores ${result.cliWallSeconds.median.toFixed(2)} s through the CLI (workflow ${result.workflowSeconds.toFixed(2)} s, CLI start ${cliStartSeconds.toFixed(2)} s; (a) on the same stores ${shell.wallSeconds.toFixed(2)} s)`);
  return result;
}

// ---------------------------------------------------------------------------------------------- helpers

function baseEnv(extra: Record<string, string | undefined>): Record<string, string> {
  const env: Record<string, string | undefined> = { PATH: process.env.PATH, HOME: process.env.HOME, LANG: 'C.UTF-8', ...extra };
  return Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined)) as Record<string, string>;
}

function shellEnv(profile: Profile, dataset: Pick<Dataset, 'databaseUrl' | 'postgres' | 'redis'>, gz: ReturnType<typeof parallelGzip>, extra: Record<string, string>): Record<string, string> {
  return baseEnv({
    PGURL: dataset.databaseUrl,
    PGADMIN: dataset.postgres.url('postgres'),
    REDIS_PORT: String(dataset.redis.port ?? ''),
    LEVEL: String(profile.level),
    GZIP_PAR: gz.compress,
    GUNZIP_PAR: gz.decompress,
    ...extra,
  });
}

function artefactsOf(dir: string): { bytesWritten: number; artefacts: Record<string, number>; files: string[] } {
  const artefacts: Record<string, number> = {};
  const files: string[] = [];
  let total = 0;
  const walk = (folder: string) => {
    for (const entry of readdirSync(folder, { withFileTypes: true })) {
      const path = join(folder, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (entry.isFile()) {
        const size = statSync(path).size;
        total += size;
        const kind = artefactKind(entry.name) ?? `other:${entry.name}`;
        files.push(relative(dir, path).replace(/\d{8}_\d{6}/g, '<stamp>'));
        artefacts[kind] = (artefacts[kind] ?? 0) + size;
      }
    }
  };
  walk(dir);
  return { bytesWritten: total, artefacts, files: files.sort() };
}

/** SHA256SUMS must list every data file of the set. */
function checkSums(dir: string, measurement: Measurement): void {
  const listed = readFileSync(join(dir, 'SHA256SUMS'), 'utf8').trim().split('\n').map((line) => line.replace(/^[0-9a-f]{64}\s+\*?/, ''));
  const files = readdirSync(dir).filter((name) => !['SHA256SUMS', 'backup_manifest.json'].includes(name));
  const missing = files.filter((name) => !listed.includes(name));
  if (missing.length > 0 || files.length < 4) {
    measurement.ok = false;
    measurement.error = `SHA256SUMS does not list ${missing.join(', ') || `4 files (there are ${files.length})`}`;
  }
}

function clearFolder(dir: string): void {
  for (const entry of readdirSync(dir)) rmSync(join(dir, entry), { recursive: true, force: true });
}

async function dropDatabase(dataset: Dataset, name: string): Promise<void> {
  const admin = new PgClient({ connectionString: dataset.postgres.url() });
  await admin.connect();
  try {
    await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  } finally {
    await admin.end();
  }
}

async function countRows(url: string): Promise<number> {
  const client = new PgClient({ connectionString: url });
  await client.connect();
  try {
    return Number((await client.query<{ n: string }>('SELECT count(*) AS n FROM chunks')).rows[0]!.n);
  } finally {
    await client.end();
  }
}

/** Leftovers of an interrupted restore are dropped; the restored database is frozen and analysed like the original. */
async function settleDatabase(dataset: Dataset): Promise<void> {
  const admin = new PgClient({ connectionString: dataset.postgres.url() });
  await admin.connect();
  try {
    const { rows } = await admin.query<{ datname: string }>(
      "SELECT datname FROM pg_database WHERE datname LIKE $1 || '\\_%restore\\_%'",
      [dataset.database],
    );
    for (const row of rows) await admin.query(`DROP DATABASE IF EXISTS "${row.datname}" WITH (FORCE)`);
  } finally {
    await admin.end();
  }
  const db = new PgClient({ connectionString: dataset.databaseUrl });
  await db.connect();
  try {
    await db.query('VACUUM (FREEZE, ANALYZE)');
    await db.query('CHECKPOINT');
  } finally {
    await db.end();
  }
}

function dirnameOfMarker(dataset: Dataset): string {
  return resolve(dataset.postgres.dataDir, '..', '..');
}

function failed(profile: ProfileName, operation: Operation, way: Way, rep: number, error: string): Measurement {
  return { profile, operation, way, rep, ok: false, error, wallSeconds: 0, cpuSeconds: { client: 0, servers: 0, orchestration: 0 }, peakRss: { tree: 0 } };
}

function describe(m: Measurement): string {
  const head = `${m.profile} ${m.operation.padEnd(7)} (${m.way}) run ${m.rep}${m.load1 !== undefined ? ` [load ${m.load1.toFixed(1)}]` : ''}`;
  if (!m.ok) return `${head}: FAILED ${m.error ?? ''}`;
  const cpu = m.cpuSeconds;
  return (
    `${head}: ${m.wallSeconds.toFixed(2)} s wall, CPU ${cpu.client.toFixed(1)} s way + ${cpu.servers.toFixed(1)} s servers` +
    (m.way === 'c' ? ` + ${cpu.orchestration.toFixed(1)} s Temporal, worker peak ${mb(m.peakRss.worker ?? 0)}` : '') +
    `, tree peak ${mb(m.peakRss.tree)}` +
    (m.bytesWritten !== undefined ? `, ${mb(m.bytesWritten)} written` : '')
  );
}

function takeLock(cacheDir: string, cleanups: Cleanups): void {
  mkdirSync(cacheDir, { recursive: true, mode: 0o755 });
  const lock = join(cacheDir, '.lock');
  try {
    const holder = Number(readFileSync(lock, 'utf8'));
    if (holder && holder !== process.pid && isAlive(holder)) {
      throw new Error(`another benchmark (pid ${holder}) is using ${cacheDir}; wait for it or pass --cache`);
    }
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  writeFileSync(lock, String(process.pid));
  cleanups.add('lock', () => rmSync(lock, { force: true }));
}


function earlierScales(resultsDir: string, scale: string): BenchResult['otherScales'] {
  const found = new Map<string, BenchResult['otherScales'][number]>();
  const files = existsSync(resultsDir) ? readdirSync(resultsDir).filter((name) => name.endsWith('.json')).sort() : [];
  for (const file of files) {
    try {
      const earlier = JSON.parse(readFileSync(join(resultsDir, file), 'utf8')) as BenchResult;
      if (earlier.schema !== 'scholaria-backup/bench' || earlier.options.scale.name === scale) continue;
      const peak = Math.max(0, ...earlier.rows.filter((r) => r.way === 'c').map((r) => r.peakRss?.worker ?? 0));
      found.set(earlier.options.scale.name, { file, scale: earlier.options.scale.name, dbBytes: earlier.dataset.dbBytes, ...(peak ? { workerPeakBytes: peak } : {}) });
    } catch {
      // Not one of ours.
    }
  }
  return [...found.values()];
}

function version(command: string, args: string[]): string {
  try {
    return execFileSync(command, args, { stdio: ['ignore', 'pipe', 'pipe'] }).toString().trim().split('\n')[0]!;
  } catch {
    return 'not installed';
  }
}

function machineInfo(gzipTool: string, dataset: Dataset): Record<string, unknown> {
  let commit = 'unknown';
  try {
    commit = execFileSync('git', ['-C', PROJECT_ROOT, 'describe', '--always', '--dirty'], { stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim();
  } catch {
    // Not a git checkout.
  }
  return {
    host: hostname(),
    nproc: cpus().length,
    cpuModel: cpus()[0]?.model ?? 'unknown',
    memoryBytes: totalmem(),
    kernel: release(),
    loadAverageAtStart: loadavg(),
    node: process.version,
    postgres: version('pg_dump', ['--version']),
    postgresServerDir: dataset.postgres.dataDir,
    redis: version('redis-server', ['--version']),
    gzip: version('gzip', ['--version']),
    parallelGzip: gzipTool === 'pigz' ? version('pigz', ['--version']) : gzipTool,
    zstd: version('zstd', ['--version']),
    openssl: version('openssl', ['version']),
    commit,
  };
}

function mb(bytes: number): string {
  return `${(bytes / 1e6).toFixed(bytes < 10e6 ? 1 : 0)} MB`;
}

function sumValues(counts: Record<string, number>): number {
  return Object.values(counts).reduce((total, count) => total + count, 0);
}

// ---------------------------------------------------------------------------------------------- main

async function main(): Promise<number> {
  const began = Date.now();
  const log: Log = (line) => process.stderr.write(`[bench +${((Date.now() - began) / 1000).toFixed(1)}s] ${line}\n`);
  let options: BenchOptions;
  try {
    options = parseOptions(process.argv.slice(2));
  } catch (error) {
    process.stderr.write(`bench: ${(error as Error).message}\n${USAGE}\n`);
    return 2;
  }
  const cleanups = new Cleanups();
  let interrupted = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (interrupted) return;
    interrupted = true;
    log(`${signal}: stopping`);
    for (const pid of runningShells) {
      try {
        process.kill(-pid, 'SIGTERM');
      } catch {
        // Already gone.
      }
    }
    void cleanups.runAll(log).then(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    if (options.prepare) {
      takeLock(options.cacheDir, cleanups);
      const dataset = await openDataset(options.cacheDir, options.scale, { rebuild: options.rebuild, log });
      cleanups.add('stores', () => dataset.stop());
      log(`dataset ${options.scale.name} ${dataset.reused ? 'is ready' : 'built'}: ${JSON.stringify({ rows: dataset.marker.rows, dbBytes: dataset.marker.dbBytes, keys: dataset.marker.keys, rdbBytes: dataset.marker.rdbBytes })}`);
      return 0;
    }
    const { result, file } = await runBenchmark(options, log, cleanups);
    const out: string[] = [
      '',
      `scholaria-backup benchmark, scale ${options.scale.name}: PostgreSQL ${mb(result.dataset.dbBytes)}, Redis ${sumValues(result.dataset.keys)} keys; ` +
        `${options.runs} run(s) each, medians; ${String(result.machine.nproc)} cores ${String(result.machine.cpuModel)}`,
      '',
      formatTable(result.rows),
      '',
      'ratios (wall, medians): ' + Object.entries(result.ratios).filter(([, v]) => v !== undefined).map(([k, v]) => `${k} ${v!.toFixed(2)}`).join(', '),
      '',
      'targets:',
      formatTargets(result.targets),
      '',
      'where the time goes in (c):',
      formatPhases(result.rows),
    ];
    if (result.overhead) {
      const o = result.overhead;
      out.push(
        '',
        `fixed overhead, near-empty stores (${o.runs} runs): CLI ${o.cliWallSeconds.median.toFixed(2)} s (${o.cliWallSeconds.min.toFixed(2)}-${o.cliWallSeconds.max.toFixed(2)}), ` +
          `workflow ${o.workflowSeconds.toFixed(2)} s of which ${o.idleSeconds.toFixed(2)} s with no activity running; CLI start alone ${o.cliStartSeconds.toFixed(2)} s`,
        `  activities: ${Object.entries(o.activities).map(([name, ms]) => `${name} ${(ms / 1000).toFixed(2)} s`).join(', ')}`,
      );
    }
    if (result.notes.length) out.push('', 'notes:', ...result.notes.map((note) => `  - ${note}`));
    out.push('', `figures: ${relative(process.cwd(), file)}`, '');
    process.stdout.write(out.join('\n'));
    const failures = result.rows.reduce((n, row) => n + row.failures, 0);
    if (failures > 0) {
      for (const m of result.measurements.filter((x) => !x.ok)) log(`failed: ${m.profile} ${m.operation} (${m.way}) run ${m.rep}: ${m.error}`);
    }
    return failures > 0 ? 1 : 0;
  } catch (error) {
    log(`failed: ${(error as Error).stack ?? (error as Error).message}`);
    return 1;
  } finally {
    await cleanups.runAll(log);
  }
}

if (require.main === module) {
  main().then(
    (code) => process.exit(code),
    (error: Error) => {
      process.stderr.write(`bench: ${error.message}\n`);
      process.exit(1);
    },
  );
}
