/**
 * `npm run bench` (issue 6): the product's backup and restore against the specification's shell script
 * (a) and the best hand-tuned shell pipeline (b), on a reference dataset built once per scale.
 *
 *   node --import tsx bench/run.ts [--scale small|default|<GB>[,<GB>...]] [--runs 3] [--ways a,b,c]
 *                                  [--profile gzip|zstd|gzip-age|zstd-age|all[,...]] [--encrypted]
 *                                  [--gzip-level 6] [--zstd-level 3] [--offsite] [--heartbeat 12]
 *                                  [--no-restore] [--no-overhead] [--rebuild] [--prepare]
 *                                  [--results-dir bench-results] [--cache bench-results/dataset]
 *                                  [--temporal-address host:port]
 *
 * Everything runs privately: PostgreSQL and Redis from the dataset cache on free ports, a headless
 * Temporal dev server (unless --temporal-address), the worker as its own process. The ways alternate
 * (a, b, c, then the restores a, b, c) for every repetition, each writing into a fresh folder that is
 * removed afterwards; the table shows min-median-max and the JSON keeps every run. Several scales run
 * one after the other, each with its own figures file, and end with a summary per scale.
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync, chmodSync } from 'node:fs';
import { cpus, hostname, loadavg, release, totalmem } from 'node:os';
import { basename, join, relative, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { Client as PgClient } from 'pg';
import { connectOnce } from '../activities/redis/connection';
import { startLocalRedis } from '../activities/redis/local-server';
import { isAlive } from '../devstack/local-stack';
import { freePort } from '../devstack/ports';
import { PROJECT_ROOT } from '../devstack/tools';
import { checkDataset, openDataset, parseScale, type Dataset, type DatasetMarker, type Scale } from './dataset';
import { compareOffsiteUpload, type OffsiteUploadComparison } from './offsite';
import { bytesUnder, DEFAULT_HEARTBEAT_SECONDS, megabytes as mb, productPhase, step, type Log } from './progress';
import { startOrchestrator, startWorkerProcess, runCli, workflowTimeline, type Orchestrator, type WorkerProcess, type WorkflowTimeline } from './product';
import { ownChildrenCpuSeconds, peakRssBytes, resetPeakRss, RssSampler, treeCpuSeconds, treeRssBytes } from './proc';
import {
  formatPhases,
  formatSpread,
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
import {
  artefactKind,
  parallelGzip,
  PROFILE_NAMES,
  profileFor,
  unencryptedTwin,
  WAY_LABELS,
  type AgeKeys,
  type Operation,
  type Profile,
  type ProfileName,
  type Way,
} from './ways';

export interface BenchOptions {
  /** Run one after the other, each with its own dataset and figures file. */
  scales: Scale[];
  runs: number;
  ways: Way[];
  profiles: ProfileName[];
  levels: { gzip: number; zstd: number };
  restore: boolean;
  overhead: boolean;
  /** After (c)'s first backup, copy that set offsite with the product and with rclone (issue 15). */
  offsite: boolean;
  /** Seconds between two progress lines of a long step. */
  heartbeatSeconds: number;
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
  options: Omit<BenchOptions, 'scales'> & { scale: Scale };
  machine: Record<string, unknown>;
  dataset: DatasetMarker & { reused: boolean };
  notes: string[];
  rows: SummaryRow[];
  ratios: Record<string, number | undefined>;
  /** Encrypted profiles measured beside their unencrypted twins: the wall time encryption adds. */
  encryption: EncryptionCost[];
  targets: Target[];
  overhead?: OverheadResult;
  /** `--offsite`: the product's offsite copy of (c)'s first set against `rclone copy` of it. */
  offsite?: OffsiteUploadComparison & { set: string; profile: ProfileName };
  /** Worker peaks of earlier runs at other scales, for "not growing with the dataset". */
  otherScales: { file: string; scale: string; dbBytes: number; workerPeakBytes?: number }[];
  /** The worker's resident memory once started, before its first run. */
  workerIdleRss: Partial<Record<ProfileName, number>>;
  measurements: Measurement[];
}

const USAGE = `usage: npm run bench -- [--scale small|default|<GB>[,<GB>...]] [--runs N] [--ways a,b,c]
                       [--profile gzip|zstd|gzip-age|zstd-age|all[,...]] [--encrypted] [--offsite]
                       [--gzip-level N] [--zstd-level N] [--no-restore] [--no-overhead] [--rebuild] [--prepare]
                       [--heartbeat SECONDS] [--results-dir DIR] [--cache DIR] [--temporal-address HOST:PORT]`;

export function parseOptions(argv: string[]): BenchOptions {
  const { values } = parseArgs({
    args: argv,
    options: {
      scale: { type: 'string', default: 'default' },
      runs: { type: 'string', default: '3' },
      ways: { type: 'string', default: 'a,b,c' },
      profile: { type: 'string', default: 'gzip' },
      encrypted: { type: 'boolean', default: false },
      offsite: { type: 'boolean', default: false },
      heartbeat: { type: 'string', default: String(DEFAULT_HEARTBEAT_SECONDS) },
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
  const profiles = parseProfiles(values.profile, values.encrypted);
  const heartbeatSeconds = Number(values.heartbeat);
  if (!Number.isFinite(heartbeatSeconds) || heartbeatSeconds < 1 || heartbeatSeconds > 600) throw new Error('--heartbeat must be 1 to 600 seconds');
  if (values.offsite && !ways.includes('c')) throw new Error('--offsite copies a set of way (c): include c in --ways');
  const scales = values.scale.split(',').map((text) => parseScale(text.trim()));
  if (new Set(scales.map((scale) => scale.name)).size !== scales.length) throw new Error('--scale lists a scale twice');
  const level = (name: string, text: string, max: number) => {
    const n = Number(text);
    if (!Number.isInteger(n) || n < 1 || n > max) throw new Error(`--${name} must be 1 to ${max}`);
    return n;
  };
  const resultsDir = resolve(values['results-dir']);
  return {
    scales,
    runs,
    ways: (['a', 'b', 'c'] as Way[]).filter((way) => ways.includes(way)),
    profiles,
    levels: { gzip: level('gzip-level', values['gzip-level'], 9), zstd: level('zstd-level', values['zstd-level'], 19) },
    restore: !values['no-restore'],
    overhead: !values['no-overhead'],
    offsite: values.offsite,
    heartbeatSeconds,
    rebuild: values.rebuild,
    prepare: values.prepare,
    resultsDir,
    cacheDir: resolve(values.cache ?? join(resultsDir, 'dataset')),
    ...(values['temporal-address'] ? { temporalAddress: values['temporal-address'] } : {}),
    ...(process.env.BACKUP_WORKFLOW_BUNDLE ? { workflowBundle: process.env.BACKUP_WORKFLOW_BUNDLE } : {}),
  };
}

/**
 * `--profile` names, comma-separated; `all` is gzip and zstd. `--encrypted` adds the encrypted twin of
 * each (gzip-age after gzip), so the cost of encryption is measured against the same profile without it.
 */
export function parseProfiles(text: string, encrypted: boolean): ProfileName[] {
  const named = text.split(',').map((name) => name.trim()).flatMap((name) => (name === 'all' ? ['gzip', 'zstd'] : [name]));
  const unknown = named.filter((name) => !PROFILE_NAMES.some((known) => known === name));
  if (unknown.length > 0 || named.length === 0) throw new Error(`--profile takes ${PROFILE_NAMES.join(', ')} or all, comma-separated (not ${unknown.join(', ') || 'nothing'})`);
  const chosen = PROFILE_NAMES.filter((name) => named.includes(name));
  if (!encrypted) return chosen;
  return PROFILE_NAMES.filter((name) => chosen.includes(name) || chosen.includes(unencryptedTwin(name)));
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

export async function runBenchmark(options: BenchOptions, scale: Scale, log: Log, cleanups = new Cleanups()): Promise<{ result: BenchResult; file: string }> {
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
  log(`dataset ${scale.name} in ${relative(process.cwd(), options.cacheDir) || '.'}`);
  const dataset = await openDataset(options.cacheDir, scale, { rebuild: options.rebuild, log, heartbeatSeconds: options.heartbeatSeconds });
  cleanups.add('stores', () => dataset.stop());
  log(
    `dataset ${dataset.reused ? 'reused' : 'built'}: PostgreSQL ${mb(dataset.marker.dbBytes)} (${dataset.marker.rows.chunks} chunks), ` +
      `Redis ${sumValues(dataset.marker.keys)} keys, RDB ${mb(dataset.marker.rdbBytes)}`,
  );
  // Warm the page cache the same way for every run: the check reads every table.
  const every = options.heartbeatSeconds;
  await step(log, 'reading the dataset once (warms the page cache)', () => checkDataset(dataset.databaseUrl, dataset.redis.url, dataset.marker), { everySeconds: every });

  let orchestrator: Orchestrator | undefined;
  if (options.ways.includes('c') || options.overhead) {
    orchestrator = await step(
      log,
      'Temporal and the workflow bundle',
      () =>
        startOrchestrator({
          dir: work,
          ...(options.temporalAddress ? { address: options.temporalAddress } : {}),
          ...(options.workflowBundle ? { bundlePath: options.workflowBundle } : {}),
          log,
        }),
      { everySeconds: every },
    );
    cleanups.add('Temporal', () => orchestrator!.stop());
  }
  const keys = options.profiles.some((name) => profileFor(name, options.levels).encrypted) ? makeAgeKeys(work) : undefined;
  if (keys) notes.push(`Encrypted profiles: every data file is encrypted with age to one X25519 recipient made for the run (${keys.recipient}); (a) and (b) pipe through \`age -r\`, the product gets BACKUP_ENCRYPTION_RECIPIENTS, and BACKUP_ENCRYPTION_IDENTITY_FILE for its restore.`);
  const productSource = readFileSync(join(PROJECT_ROOT, 'core', 'config.ts'), 'utf8');
  const measurements: Measurement[] = [];
  const rows: SummaryRow[] = [];
  const workerIdleRss: Partial<Record<ProfileName, number>> = {};
  let offsite: BenchResult['offsite'];

  for (const profileName of options.profiles) {
    const profile = profileFor(profileName, options.levels);
    const product = profile.product(productSource, keys);
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
      worker = await step(log, `${profile.name}: starting the worker and warming it up`, async () => {
        const started = await startWorkerProcess(env, join(work, `worker-${profile.name}.log`));
        cleanups.add(`worker ${profile.name}`, () => started.stop());
        // A long-running worker has its workflow bundle loaded; a new one loads it on its first workflow task.
        // A dry run against the empty folder (it fails at once: no set) does that before anything is measured.
        const warmup = await runCli(['restore', 'latest', '--dry-run'], { ...env, LOG_LEVEL: 'warn' });
        if (!/restore-\S+ started/.test(warmup.stdout)) log(`warm-up did not start a workflow: ${(warmup.stderr || warmup.stdout).trim().slice(0, 300)}`);
        return started;
      }, { everySeconds: every });
      workerIdleRss[profile.name] = treeRssBytes(worker.pid);
      log(`${profile.name}: worker pid ${worker.pid} on task queue ${env.TEMPORAL_TASK_QUEUE}, ${mb(workerIdleRss[profile.name]!)} resident when idle`);
    }
    let notInEffect: string | undefined;
    for (let rep = 1; rep <= options.runs; rep++) {
      const outputs: Partial<Record<Way, string>> = {};
      for (const way of options.ways) {
        if (way === 'c' && (!worker || notInEffect)) continue;
        const load1 = loadavg()[0]!;
        const label = `${profile.name} backup (${way}) run ${rep}/${options.runs}`;
        const m = way === 'c'
          ? await step(log, label, () => backupProduct(profile, rep, worker!, orchestrator!, dataset), {
            everySeconds: every,
            status: () => productPhase(orchestrator!.client, worker!.env.TEMPORAL_TASK_QUEUE!),
          })
          : await step(log, label, () => backupShell(profile, way, rep, work, dataset, gz, keys), {
            everySeconds: every,
            status: () => `${mb(bytesUnder(join(work, `${way}-${profile.name}`)))} written`,
          });
        m.measurement.load1 = load1;
        measurements.push(m.measurement);
        savePartial(options, scale, stamp, measurements);
        if (m.measurement.ok) outputs[way] = m.output;
        log(describe(m.measurement));
        if (way === 'c' && m.measurement.error?.includes('profile is not in effect')) {
          notInEffect = m.measurement.error;
          measurements.pop();
          log(`${profile.name}: (c) is not measured further: ${notInEffect}`);
        }
        if (way === 'c' && options.offsite && !offsite && m.measurement.ok) {
          const set = basename(m.output);
          const compared = await step(
            log,
            `offsite copy of ${profile.name} set ${set}: product vs rclone copy, ${options.runs} run(s)`,
            () => compareOffsiteUpload({ backupDir: worker!.env.BACKUP_DIR!, set, runs: options.runs, log }),
            { everySeconds: every },
          );
          offsite = { ...compared, set, profile: profile.name };
          log(`offsite: product ${median(compared.productSeconds).toFixed(2)} s, rclone copy ${median(compared.rcloneSeconds).toFixed(2)} s (${compared.ratio.toFixed(2)}x), product peak ${mb(compared.productPeakRssBytes)}`);
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
          const label = `${profile.name} restore (${way}) run ${rep}/${options.runs}`;
          const m = way === 'c'
            ? await step(log, label, () => restoreProduct(profile, rep, worker!, orchestrator!, dataset, log), {
              everySeconds: every,
              status: () => productPhase(orchestrator!.client, worker!.env.TEMPORAL_TASK_QUEUE!),
            })
            : await step(log, label, () => restoreShell(profile, way, rep, output, work, dataset, gz, keys), {
              everySeconds: every,
              status: () => `${mb(bytesUnder(join(work, `${way}-${profile.name}`, 'restore-tmp')))} in its temporary folder`,
            });
          m.load1 = load1;
          measurements.push(m);
          savePartial(options, scale, stamp, measurements);
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
    overhead = await step(log, `fixed overhead: near-empty backups, ${options.runs} run(s)`, () => measureOverhead(options, work, dataset, orchestrator!, cleanups, log), {
      everySeconds: every,
    });
  }

  const ratios: Record<string, number | undefined> = {};
  for (const profile of options.profiles) {
    for (const op of ['backup', 'restore'] as Operation[]) {
      ratios[`${profile} ${op} c/a`] = ratio(rows, profile, op, 'c', 'a');
      ratios[`${profile} ${op} c/b`] = ratio(rows, profile, op, 'c', 'b');
    }
  }
  const encryption = encryptionCosts(rows);
  const otherScales = earlierScales(options.resultsDir, scale.name);
  const targets = targetsOf(rows, ratios, scale, otherScales, overhead, offsite, encryption);
  const result: BenchResult = {
    schema: 'scholaria-backup/bench',
    version: 1,
    startedAt: startedAt.toISOString(),
    finishedAt: new Date().toISOString(),
    options: { ...withoutScales(options), scale },
    machine: machineInfo(gz.tool, dataset),
    dataset: { ...dataset.marker, reused: dataset.reused },
    notes,
    rows,
    ratios,
    encryption,
    targets,
    ...(overhead ? { overhead } : {}),
    ...(offsite ? { offsite } : {}),
    otherScales,
    workerIdleRss,
    measurements,
  };
  const file = join(options.resultsDir, `${stamp}-${scale.name}.json`);
  writeFileSync(file, `${JSON.stringify(result, null, 2)}\n`);
  rmSync(join(options.resultsDir, `${stamp}.partial.json`), { force: true });
  return { result, file };
}

export interface EncryptionCost {
  profile: ProfileName;
  operation: Operation;
  way: Way;
  /** Median wall seconds of the unencrypted twin and of the encrypted profile. */
  plainSeconds: number;
  encryptedSeconds: number;
  /** encrypted / plain - 1. */
  added: number;
}

/** Per encrypted profile measured beside its unencrypted twin, per operation and way: the wall time encryption adds (medians). */
export function encryptionCosts(rows: SummaryRow[]): EncryptionCost[] {
  return rows.flatMap((row) => {
    const twin = unencryptedTwin(row.profile);
    if (twin === row.profile || !row.wallSeconds) return [];
    const plain = rows.find((r) => r.profile === twin && r.operation === row.operation && r.way === row.way)?.wallSeconds;
    if (!plain || plain.median <= 0) return [];
    return [{ profile: row.profile, operation: row.operation, way: row.way, plainSeconds: plain.median, encryptedSeconds: row.wallSeconds.median, added: row.wallSeconds.median / plain.median - 1 }];
  });
}

export function formatEncryptionCosts(costs: EncryptionCost[]): string {
  return costs
    .map((c) => {
      const percent = `${c.added >= 0 ? '+' : ''}${(c.added * 100).toFixed(0)} %`;
      return `  ${c.profile.padEnd(8)} ${c.operation.padEnd(7)} (${c.way})  ${percent.padStart(6)}  (${c.encryptedSeconds.toFixed(2)} s vs ${c.plainSeconds.toFixed(2)} s)`;
    })
    .join('\n');
}

/** The targets of issues 19 (speed, memory at every scale), 16 (encryption), 15 (offsite) and 6 (fixed overhead). */
function targetsOf(
  rows: SummaryRow[],
  ratios: Record<string, number | undefined>,
  scale: Scale,
  otherScales: BenchResult['otherScales'],
  overhead: OverheadResult | undefined,
  offsite: BenchResult['offsite'],
  encryption: EncryptionCost[],
): Target[] {
  const workerPeak = Math.max(0, ...rows.filter((r) => r.way === 'c').map((r) => r.peakRss?.worker ?? 0)) || undefined;
  const atScale = scale.name === 'default' ? 'at the default scale' : `measured at ${scale.name}; the target is for the default scale`;
  const profiles = [...new Set(rows.map((r) => r.profile))];
  const targets: Target[] = [
    target('#19', 'zstd backup c/b (wall)', ratios['zstd backup c/b'], '<=', 1.25, atScale),
    target('#19', 'zstd backup c/a (wall)', ratios['zstd backup c/a'], '<=', 0.75, atScale),
    target('#19', 'gzip backup c/b (wall)', ratios['gzip backup c/b'], '<=', 1.1, atScale),
    target('#6', 'gzip backup c/a (wall)', ratios['gzip backup c/a'], '<=', 0.5, `${atScale}; pg_dump's single-threaded zlib bounds it (even (b) is near 0.54)`),
  ];
  for (const profile of ['gzip', 'zstd'] as const) {
    targets.push(
      target('#19', `${profile} restore c/b (wall)`, ratios[`${profile} restore c/b`], '<=', 1.5, `${atScale}; with the safety snapshot and the deep checks`),
      target('#19', `${profile} restore c/a (wall)`, ratios[`${profile} restore c/a`], '<=', 1.0, `${atScale}; with the safety snapshot and the deep checks`),
    );
  }
  targets.push(
    target('#19', `worker peak RSS at ${scale.name}, MB`, workerPeak === undefined ? undefined : workerPeak / 1e6, '<', 300,
      `max over ${profiles.join(', ')}, backup and restore; other scales: ${otherScales.map((s) => `${s.scale} ${s.workerPeakBytes ? (s.workerPeakBytes / 1e6).toFixed(0) : '?'} MB`).join(', ') || 'none yet'}`),
  );
  for (const profile of profiles.filter((name) => name !== unencryptedTwin(name))) {
    const cost = encryption.find((c) => c.profile === profile && c.operation === 'backup' && c.way === 'c');
    targets.push(
      target('#16', `${profile} backup (c): wall added by encryption`, cost?.added, '<', 0.1,
        cost ? `${cost.encryptedSeconds.toFixed(2)} s vs ${cost.plainSeconds.toFixed(2)} s unencrypted; ${atScale}` : `needs ${unencryptedTwin(profile)} measured too (--encrypted)`),
    );
  }
  targets.push(target('#6', 'backup of near-empty stores via Temporal, s', overhead?.cliWallSeconds.median, '<', 3, 'CLI wall time, median'));
  if (offsite) {
    targets.push(
      target('#15', 'offsite copy: product / rclone copy (wall)', offsite.ratio, '<=', 1.2, `${median(offsite.productSeconds).toFixed(2)} s vs ${median(offsite.rcloneSeconds).toFixed(2)} s (medians), the ${offsite.profile} set ${offsite.set}, proved by ${offsite.checkedBy}`),
      target('#15', 'offsite copy: product peak RSS, MB', offsite.productPeakRssBytes / 1e6, '<', 300, 'the copying process'),
    );
  }
  return targets;
}

/** An age X25519 key pair for the encrypted profiles, made with Debian's age-keygen in the run's work folder. */
function makeAgeKeys(work: string): AgeKeys {
  const identityFile = join(work, 'age-identity.txt');
  try {
    execFileSync('age-keygen', ['-o', identityFile], { stdio: ['ignore', 'ignore', 'pipe'] });
    chmodSync(identityFile, 0o600);
    return { recipient: execFileSync('age-keygen', ['-y', identityFile], { stdio: ['ignore', 'pipe', 'pipe'] }).toString().trim(), identityFile };
  } catch (error) {
    throw new Error(`the encrypted profiles need Debian's age (apt-get install age): age-keygen failed: ${(error as Error).message}`);
  }
}

/** The runs so far, so an interrupted benchmark still leaves its figures (`<stamp>.partial.json`). */
function savePartial(options: BenchOptions, scale: Scale, stamp: string, measurements: Measurement[]): void {
  writeFileSync(
    join(options.resultsDir, `${stamp}.partial.json`),
    `${JSON.stringify({ schema: 'scholaria-backup/bench-partial', options: { ...withoutScales(options), scale }, measurements }, null, 2)}\n`,
  );
}

function withoutScales(options: BenchOptions): Omit<BenchOptions, 'scales'> {
  const { scales: _scales, ...rest } = options;
  return rest;
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

async function backupShell(profile: Profile, way: 'a' | 'b', rep: number, work: string, dataset: Dataset, gz: ReturnType<typeof parallelGzip>, keys: AgeKeys | undefined): Promise<BackupOutcome> {
  const out = join(work, `${way}-${profile.name}`, 'set');
  const tmp = join(work, `${way}-${profile.name}`, 'tmp');
  rmSync(join(work, `${way}-${profile.name}`), { recursive: true, force: true });
  mkdirSync(out, { recursive: true });
  mkdirSync(tmp, { recursive: true });
  const stamp = stampNow();
  const files = profile.files(stamp);
  const env = shellEnv(profile, dataset, gz, keys, {
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

async function restoreShell(
  profile: Profile,
  way: 'a' | 'b',
  rep: number,
  output: string,
  work: string,
  dataset: Dataset,
  gz: ReturnType<typeof parallelGzip>,
  keys: AgeKeys | undefined,
): Promise<Measurement> {
  const tmp = join(work, `${way}-${profile.name}`, 'restore-tmp');
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  const names = readdirSync(output);
  const byKind = (kind: string) => names.find((name) => artefactKind(name) === kind) ?? '';
  const restoreDb = `${dataset.database}_bench_restore_${way}`;
  await dropDatabase(dataset, restoreDb);
  const env = shellEnv(profile, dataset, gz, keys, {
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
    const stray = (measurement.files ?? []).filter((name) => !inProfile(profile, name));
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

/** A data file of the set is compressed and (for an encrypted profile) encrypted as the profile says. */
function inProfile(profile: Profile, name: string): boolean {
  const kind = artefactKind(name);
  if (kind === undefined || kind === 'checksums' || kind === 'manifest') return true;
  const bare = name.replace(/\.age$/, '');
  return name.endsWith('.age') === profile.encrypted && (kind === 'custom' && profile.compression === 'gzip' ? bare.endsWith('.custom') : bare.endsWith(profile.suffix));
}

async function restoreProduct(
  profile: Profile,
  rep: number,
  worker: WorkerProcess,
  orchestrator: Orchestrator,
  dataset: Dataset,
  log: Log,
): Promise<Measurement> {
  const env = { ...worker.env, LOG_LEVEL: 'warn' };
  const run = await measureProduct(['restore', 'latest', '--yes', '--component', 'postgres,redis'], env, worker, orchestrator, dataset);
  let error = run.code !== 0 ? (run.stderr.trim() || run.stdout.trim()).slice(-600) || `exit ${run.code}` : undefined;
  const workflowId = /(restore-\S+) started/.exec(run.stdout)?.[1];
  const timeline = workflowId ? await workflowTimeline(orchestrator.client, workflowId).catch(() => undefined) : undefined;
  // The product restored over the benchmark's own stores: settle them as the dataset was (frozen,
  // analysed) so the next repetition reads the same kind of pages, and check nothing was lost.
  const settled = Date.now();
  log('  settling the restored database (VACUUM FREEZE, ANALYZE; not measured)');
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
    shellEnv(profile, { databaseUrl: dataset.postgres.url(emptyDb), postgres: dataset.postgres, redis }, parallelGzip(), undefined, {
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

function shellEnv(
  profile: Profile,
  dataset: Pick<Dataset, 'databaseUrl' | 'postgres' | 'redis'>,
  gz: ReturnType<typeof parallelGzip>,
  keys: AgeKeys | undefined,
  extra: Record<string, string>,
): Record<string, string> {
  if (profile.encrypted && !keys) throw new Error(`the ${profile.name} profile needs an age key pair`);
  return baseEnv({
    ...(profile.encrypted ? { RECIPIENT: keys!.recipient, IDENTITY: keys!.identityFile } : {}),
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
    age: version('age', ['--version']),
    commit,
  };
}

function sumValues(counts: Record<string, number>): number {
  return Object.values(counts).reduce((total, count) => total + count, 0);
}

// ---------------------------------------------------------------------------------------------- main

/** The printed report of one scale's run. */
function formatResult(result: BenchResult, file: string): string {
  const out: string[] = [
    '',
    `scholaria-backup benchmark, scale ${result.options.scale.name}: PostgreSQL ${mb(result.dataset.dbBytes)}, Redis ${sumValues(result.dataset.keys)} keys; ` +
      `${result.options.runs} run(s) each, min-median-max; ${String(result.machine.nproc)} cores ${String(result.machine.cpuModel)}`,
    '',
    formatTable(result.rows),
    '',
    'ratios (wall, medians): ' + Object.entries(result.ratios).filter(([, v]) => v !== undefined).map(([k, v]) => `${k} ${v!.toFixed(2)}`).join(', '),
    ...(result.encryption.length > 0
      ? ['', 'wall time added by encryption (medians, encrypted profile vs the same profile unencrypted):', formatEncryptionCosts(result.encryption)]
      : []),
    '',
    'targets:',
    formatTargets(result.targets),
    '',
    'where the time goes in (c):',
    formatPhases(result.rows),
  ];
  if (result.offsite) {
    const o = result.offsite;
    out.push(
      '',
      `offsite copy of the ${o.profile} set ${o.set} to a private rclone serve s3 (medians of ${result.options.runs} run(s)):`,
      `  product copySetOffsite  ${median(o.productSeconds).toFixed(2)} s, peak ${mb(o.productPeakRssBytes)}, proved by ${o.checkedBy}`,
      `  rclone copy             ${median(o.rcloneSeconds).toFixed(2)} s`,
      `  product / rclone        ${o.ratio.toFixed(2)}x`,
    );
  }
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
  return out.join('\n');
}

/**
 * (c) per scale, for bench/README.md's linearity table: wall and CPU (medians), worker peak, and the
 * wall time per GB of database, which stays flat when the cost grows linearly.
 */
export function formatScaleSummary(results: BenchResult[]): string {
  const lines = [
    '| scale | PostgreSQL | Redis keys | profile | op | (c) wall s | (c) CPU s | (c) wall s per GB | (b) wall s | worker peak |',
    '|---|---|---|---|---|---|---|---|---|---|',
  ];
  // Grouped by profile and operation, the scales next to each other.
  const cases = [...new Map(results.flatMap((result) => result.rows.map((r) => [`${r.profile} ${r.operation}`, r] as const))).values()];
  for (const { profile, operation } of cases) {
    for (const result of results) {
      const gb = result.dataset.dbBytes / 1e9;
      const row = result.rows.find((r) => r.profile === profile && r.operation === operation && r.way === 'c' && r.wallSeconds);
      if (!row) continue;
      const b = result.rows.find((r) => r.profile === row.profile && r.operation === row.operation && r.way === 'b')?.wallSeconds;
      lines.push(
        `| ${result.options.scale.name} | ${mb(result.dataset.dbBytes)} | ${sumValues(result.dataset.keys)} | ${row.profile} | ${row.operation} | ` +
          `${formatSpread(row.wallSeconds!, 2)} | ${formatSpread(row.cpuTotalSeconds!, 1)} | ${(row.wallSeconds!.median / gb).toFixed(1)} | ` +
          `${b ? formatSpread(b, 2) : '-'} | ${row.peakRss?.worker !== undefined ? mb(row.peakRss.worker) : '-'} |`,
      );
    }
  }
  const peaks = results.map((result) => Math.max(0, ...result.rows.filter((r) => r.way === 'c').map((r) => r.peakRss?.worker ?? 0)));
  const highest = Math.max(...peaks);
  lines.push(
    '',
    `worker peak at every scale < 300 MB (#19): ${highest > 0 ? `${mb(highest)} at most (${results.map((r, i) => `${r.options.scale.name} ${mb(peaks[i]!)}`).join(', ')}): ${highest < 300e6 ? 'met' : 'MISSED'}` : 'not measured'}`,
  );
  return lines.join('\n');
}

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
  let cleanups = new Cleanups();
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
  const results: { result: BenchResult; file: string }[] = [];
  try {
    for (const [index, scale] of options.scales.entries()) {
      cleanups = new Cleanups();
      const of = options.scales.length > 1 ? ` (scale ${index + 1} of ${options.scales.length})` : '';
      if (options.prepare) {
        await step(log, `preparing the dataset ${scale.name}${of}`, async () => {
          takeLock(options.cacheDir, cleanups);
          const dataset = await openDataset(options.cacheDir, scale, { rebuild: options.rebuild, log, heartbeatSeconds: options.heartbeatSeconds });
          cleanups.add('stores', () => dataset.stop());
          log(`dataset ${scale.name} ${dataset.reused ? 'is ready' : 'built'}: ${JSON.stringify({ rows: dataset.marker.rows, dbBytes: dataset.marker.dbBytes, keys: dataset.marker.keys, rdbBytes: dataset.marker.rdbBytes })}`);
        });
      } else {
        const run = await step(log, `scale ${scale.name}${of}: ${options.profiles.join(', ')}, ways ${options.ways.join(',')}, ${options.runs} run(s) each`, () =>
          runBenchmark(options, scale, log, cleanups));
        results.push(run);
        process.stdout.write(formatResult(run.result, run.file));
      }
      await cleanups.runAll(log);
    }
    if (results.length > 1) {
      process.stdout.write(['', 'per scale, (c) (medians; for bench/README.md):', '', formatScaleSummary(results.map((r) => r.result)), ''].join('\n'));
    }
    const failed = results.flatMap(({ result }) => result.measurements.filter((m) => !m.ok).map((m) => ({ scale: result.options.scale.name, m })));
    for (const { scale, m } of failed) log(`failed: ${scale} ${m.profile} ${m.operation} (${m.way}) run ${m.rep}: ${m.error}`);
    return failed.length > 0 ? 1 : 0;
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
