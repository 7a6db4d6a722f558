/**
 * The offsite copy against `rclone copy` of the same files to the same S3 server (issue 15's target:
 * within 1.2x of rclone, the copying process under 300 MB).
 *
 *   scripts/node.sh --import tsx bench/offsite.ts [--size-mb 1536] [--runs 3]
 *                                                [--backup-dir DIR --set NAME] [--results-dir bench-results]
 *
 * `compareOffsiteUpload` is the measurement, for `npm run bench` on its own set; the command line runs
 * it on a real set (`--backup-dir` and `--set`, e.g. one the main bench or the demo made) or on a
 * synthetic sealed set of random data (`--size-mb`, split like a backup: one big dump, a smaller one,
 * a snapshot). The server is a private `rclone serve s3` on a free port. Each run copies into a fresh
 * prefix, alternating the two ways (which goes first alternates too):
 * - product: `copySetOffsite` as the worker runs it (devstack/offsite-copy-process.ts, its own process:
 *   wall time and peak RSS). rclone's server checks the Content-MD5 of every object and part and
 *   answers the MD5 of what it received as the ETag, which the product compares, like rclone does.
 * - rclone: `rclone copy <set folder> :s3:<bucket>/<prefix>` (its defaults: 4 transfers, 5 MiB chunks
 *   above 200 MiB, MD5 compared through the ETag), with the same keys through RCLONE_S3_* variables.
 * CPU seconds of the copying process and of the server are reported too: on a shared machine they
 * vary less than wall time.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import type { OffsiteCopyResult } from '../core/offsite';
import { startS3Server, type S3Server } from '../devstack/s3-server';
import { writeSealedSet } from '../devstack/synthetic-set';
import { PROJECT_ROOT, rcloneCli } from '../devstack/tools';
import { ownChildrenCpuSeconds, RssSampler, treeCpuSeconds } from './proc';
import { median } from './report';

const BUCKET = 'bench-offsite';
const MiB = 1024 * 1024;

type Way = 'product' | 'rclone';

interface Run {
  way: Way;
  seconds: number;
  peakRssBytes: number;
  /** CPU of the copying process, and of the S3 server while it ran. */
  cpuSeconds: number;
  serverCpuSeconds: number;
}

export interface OffsiteUploadComparison {
  /** Wall seconds of each run, in run order. */
  productSeconds: number[];
  rcloneSeconds: number[];
  /** Median product seconds over median rclone seconds. */
  ratio: number;
  productPeakRssBytes: number;
  productCpuSeconds: number[];
  rcloneCpuSeconds: number[];
  /** How the product's copies were checked (`server-md5` against rclone's server). */
  checkedBy: OffsiteCopyResult['checkedBy'];
  bytes: number;
  runs: Run[];
}

async function timedProcess(command: string, args: string[], env: NodeJS.ProcessEnv): Promise<{ seconds: number; peakRssBytes: number; cpuSeconds: number; stdout: string }> {
  const cpuBefore = ownChildrenCpuSeconds();
  const started = process.hrtime.bigint();
  const child = spawn(command, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  const sampler = new RssSampler(() => child.pid, 100).start();
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (text: string) => (stdout += text));
  child.stderr.setEncoding('utf8').on('data', (text: string) => (stderr += text));
  return new Promise((resolveRun, reject) => {
    child.once('error', reject);
    child.once('close', (code) => {
      sampler.stop();
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      if (code !== 0) reject(new Error(`${command} ${args[0]} exited with ${code}: ${stderr.trim().split('\n').slice(-3).join(' | ')}`));
      else resolveRun({ seconds, peakRssBytes: sampler.peakTreeBytes, cpuSeconds: ownChildrenCpuSeconds() - cpuBefore, stdout });
    });
  });
}

async function productCopy(server: S3Server, backupDir: string, set: string, prefix: string): Promise<Omit<Run, 'serverCpuSeconds'> & { result: OffsiteCopyResult }> {
  const env = {
    ...process.env,
    BACKUP_DIR: backupDir,
    BACKUP_OFFSITE_URL: `s3://${BUCKET}/${prefix}`,
    BACKUP_OFFSITE_ENDPOINT: server.endpoint,
    AWS_ACCESS_KEY_ID: server.accessKeyId,
    AWS_SECRET_ACCESS_KEY: server.secretAccessKey,
  };
  const run = await timedProcess(process.execPath, ['--import', 'tsx', join(PROJECT_ROOT, 'devstack', 'offsite-copy-process.ts'), set], env);
  const last = run.stdout.trim().split('\n').map((line) => JSON.parse(line) as { result?: OffsiteCopyResult; maxRssBytes?: number }).find((line) => line.result);
  if (!last?.result) throw new Error('the product copy printed no result');
  return { way: 'product', seconds: run.seconds, cpuSeconds: run.cpuSeconds, peakRssBytes: Math.max(run.peakRssBytes, last.maxRssBytes ?? 0), result: last.result };
}

async function rcloneCopy(server: S3Server, setPath: string, prefix: string): Promise<Omit<Run, 'serverCpuSeconds'>> {
  const env = {
    ...process.env,
    RCLONE_CONFIG: '/dev/null',
    RCLONE_S3_PROVIDER: 'Other',
    RCLONE_S3_ENDPOINT: server.endpoint,
    RCLONE_S3_ACCESS_KEY_ID: server.accessKeyId,
    RCLONE_S3_SECRET_ACCESS_KEY: server.secretAccessKey,
    RCLONE_S3_FORCE_PATH_STYLE: 'true',
    RCLONE_S3_REGION: 'us-east-1',
  };
  const run = await timedProcess(rcloneCli(), ['copy', setPath, `:s3:${BUCKET}/${prefix}`], env);
  return { way: 'rclone', seconds: run.seconds, cpuSeconds: run.cpuSeconds, peakRssBytes: run.peakRssBytes };
}

/**
 * Copies `<backupDir>/<set>` `runs` times each way to a private `rclone serve s3` (started and removed
 * here, its folder in a temp directory) and compares the product's upload with `rclone copy`.
 */
export async function compareOffsiteUpload(options: { backupDir: string; set: string; runs: number; log: (line: string) => void }): Promise<OffsiteUploadComparison> {
  const { backupDir, set, runs, log } = options;
  const scratch = mkdtempSync(join(tmpdir(), 'scholaria-bench-offsite-'));
  const server = await startS3Server({ buckets: [BUCKET], dir: join(scratch, 's3') });
  const serverCpu = () => {
    const pid = server.pid();
    return pid === undefined ? 0 : treeCpuSeconds(pid);
  };
  const measured: Run[] = [];
  let checkedBy: OffsiteCopyResult['checkedBy'] | undefined;
  let bytes = 0;
  try {
    for (let run = 1; run <= runs; run++) {
      // Alternating which way goes first, so neither always meets the page cache or the server warmed by the other.
      const order: Way[] = run % 2 === 1 ? ['product', 'rclone'] : ['rclone', 'product'];
      const line: string[] = [];
      for (const way of order) {
        const serverBefore = serverCpu();
        if (way === 'product') {
          const { result, ...product } = await productCopy(server, backupDir, set, `product-${run}`);
          measured.push({ ...product, serverCpuSeconds: serverCpu() - serverBefore });
          checkedBy = result.checkedBy;
          bytes = result.bytes;
          line.push(`product ${product.seconds.toFixed(2)} s (cpu ${product.cpuSeconds.toFixed(1)} s, ${(product.peakRssBytes / MiB).toFixed(0)} MB, checked by ${result.checkedBy})`);
        } else {
          const rclone = await rcloneCopy(server, join(backupDir, set), `rclone-${run}/${set}`);
          measured.push({ ...rclone, serverCpuSeconds: serverCpu() - serverBefore });
          line.push(`rclone ${rclone.seconds.toFixed(2)} s (cpu ${rclone.cpuSeconds.toFixed(1)} s)`);
        }
      }
      log(`run ${run}: ${line.join(', ')}`);
    }
  } finally {
    await server.remove();
    rmSync(scratch, { recursive: true, force: true });
  }
  const of = (way: Way) => measured.filter((run) => run.way === way);
  const productSeconds = of('product').map((run) => run.seconds);
  const rcloneSeconds = of('rclone').map((run) => run.seconds);
  return {
    productSeconds,
    rcloneSeconds,
    ratio: median(productSeconds) / median(rcloneSeconds),
    productPeakRssBytes: Math.max(...of('product').map((run) => run.peakRssBytes)),
    productCpuSeconds: of('product').map((run) => run.cpuSeconds),
    rcloneCpuSeconds: of('rclone').map((run) => run.cpuSeconds),
    checkedBy: checkedBy ?? 'server-sha256',
    bytes,
    runs: measured,
  };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      'size-mb': { type: 'string', default: '1536' },
      runs: { type: 'string', default: '3' },
      'backup-dir': { type: 'string' },
      set: { type: 'string' },
      'results-dir': { type: 'string', default: join(PROJECT_ROOT, 'bench-results') },
    },
  });
  const log = (line: string) => process.stdout.write(`[bench-offsite] ${line}\n`);
  const scratch = mkdtempSync(join(tmpdir(), 'scholaria-bench-offsite-set-'));
  try {
    let backupDir: string;
    let setName: string;
    if (values['backup-dir'] && values.set) {
      backupDir = resolve(values['backup-dir']);
      setName = values.set;
    } else {
      const total = Number(values['size-mb']) * MiB;
      backupDir = scratch;
      log(`writing a synthetic set of ${values['size-mb']} MiB`);
      setName = (await writeSealedSet(backupDir, new Date(), [Math.round(total * 0.7), Math.round(total * 0.2), Math.round(total * 0.1)])).name;
    }
    const comparison = await compareOffsiteUpload({ backupDir, set: setName, runs: Number(values.runs), log });
    const productMedian = median(comparison.productSeconds);
    const rcloneMedian = median(comparison.rcloneSeconds);
    const peak = comparison.productPeakRssBytes;
    const summary = {
      schema: 'scholaria-backup/bench-offsite',
      version: 2,
      set: setName,
      bytes: comparison.bytes,
      checkedBy: comparison.checkedBy,
      runs: comparison.runs,
      medians: {
        productSeconds: productMedian,
        rcloneSeconds: rcloneMedian,
        ratio: comparison.ratio,
        productCpuSeconds: median(comparison.productCpuSeconds),
        rcloneCpuSeconds: median(comparison.rcloneCpuSeconds),
      },
      productPeakRssBytes: peak,
      targets: { ratio: { limit: 1.2, met: comparison.ratio <= 1.2 }, memory: { limitBytes: 300 * 1e6, met: peak < 300 * 1e6 } },
    };
    mkdirSync(values['results-dir']!, { recursive: true });
    const file = join(values['results-dir']!, `offsite-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
    writeFileSync(file, `${JSON.stringify(summary, null, 2)}\n`);
    const serverCpu = (way: Way) => median(comparison.runs.filter((run) => run.way === way).map((run) => run.serverCpuSeconds)).toFixed(1);
    const mbPerSecond = (seconds: number) => (comparison.bytes / MiB / seconds).toFixed(0);
    process.stdout.write(
      [
        '',
        `| way | median s | MB/s | median CPU s (copier) | median CPU s (server) |`,
        `|---|---|---|---|---|`,
        `| product copySetOffsite | ${productMedian.toFixed(2)} | ${mbPerSecond(productMedian)} | ${summary.medians.productCpuSeconds.toFixed(1)} | ${serverCpu('product')} |`,
        `| rclone copy | ${rcloneMedian.toFixed(2)} | ${mbPerSecond(rcloneMedian)} | ${summary.medians.rcloneCpuSeconds.toFixed(1)} | ${serverCpu('rclone')} |`,
        '',
        `product / rclone: ${comparison.ratio.toFixed(2)}x (target <= 1.2x: ${summary.targets.ratio.met ? 'met' : 'NOT met'})`,
        `product peak RSS: ${(peak / 1e6).toFixed(0)} MB (target < 300 MB: ${summary.targets.memory.met ? 'met' : 'NOT met'})`,
        `results: ${file}`,
        '',
      ].join('\n'),
    );
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

if (require.main === module) {
  main().catch((error: Error) => {
    process.stderr.write(`[bench-offsite] ${error.message}\n`);
    process.exit(1);
  });
}
