/**
 * The offsite copy against `rclone copy` of the same files to the same S3 server (issue 15's target:
 * within 1.2x of rclone, the copying process under 300 MB).
 *
 *   scripts/node.sh --import tsx bench/offsite.ts [--size-mb 1536] [--runs 3]
 *                                                [--backup-dir DIR --set NAME] [--results-dir bench-results]
 *
 * The set is a real one (`--backup-dir` and `--set`, e.g. a set the main bench or the demo made) or a
 * synthetic sealed set of random data (`--size-mb`, split like a backup: one big dump, a smaller one,
 * a snapshot). The server is a private `rclone serve s3` on a free port. Each run copies into a fresh
 * prefix, alternating the two ways:
 * - product: `copySetOffsite` as the worker runs it (devstack/offsite-copy-process.ts, its own process:
 *   wall time and peak RSS). rclone's server does not check S3 checksums, so the product reads every
 *   object back: that is part of its time, as it is part of what it guarantees.
 * - rclone: `rclone copy <set folder> :s3:<bucket>/<prefix>` (its defaults: 4 transfers, 5 MiB chunks
 *   above 200 MiB, MD5 compared through the ETag), with the same keys through RCLONE_S3_* variables.
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
import { RssSampler } from './proc';
import { median } from './report';

const BUCKET = 'bench-offsite';
const MiB = 1024 * 1024;

interface Run {
  way: 'product' | 'rclone';
  seconds: number;
  peakRssBytes: number;
}

function timedProcess(command: string, args: string[], env: NodeJS.ProcessEnv): Promise<{ seconds: number; peakRssBytes: number; stdout: string }> {
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
      else resolveRun({ seconds, peakRssBytes: sampler.peakTreeBytes, stdout });
    });
  });
}

async function productCopy(server: S3Server, backupDir: string, set: string, prefix: string): Promise<Run & { result: OffsiteCopyResult }> {
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
  return { way: 'product', seconds: run.seconds, peakRssBytes: Math.max(run.peakRssBytes, last.maxRssBytes ?? 0), result: last.result };
}

async function rcloneCopy(server: S3Server, setPath: string, prefix: string): Promise<Run> {
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
  return { way: 'rclone', seconds: run.seconds, peakRssBytes: run.peakRssBytes };
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
  const runs = Number(values.runs);
  const scratch = mkdtempSync(join(tmpdir(), 'scholaria-bench-offsite-'));
  const server = await startS3Server({ buckets: [BUCKET], dir: join(scratch, 's3') });
  try {
    let backupDir: string;
    let setName: string;
    if (values['backup-dir'] && values.set) {
      backupDir = resolve(values['backup-dir']);
      setName = values.set;
    } else {
      const total = Number(values['size-mb']) * MiB;
      backupDir = join(scratch, 'backup');
      mkdirSync(backupDir, { recursive: true });
      process.stdout.write(`[bench-offsite] writing a synthetic set of ${values['size-mb']} MiB\n`);
      setName = (await writeSealedSet(backupDir, new Date(), [Math.round(total * 0.7), Math.round(total * 0.2), Math.round(total * 0.1)])).name;
    }
    const measured: (Run & { result?: OffsiteCopyResult })[] = [];
    for (let run = 1; run <= runs; run++) {
      const product = await productCopy(server, backupDir, setName, `product-${run}`);
      const rclone = await rcloneCopy(server, join(backupDir, setName), `rclone-${run}/${setName}`);
      measured.push(product, rclone);
      process.stdout.write(
        `[bench-offsite] run ${run}: product ${product.seconds.toFixed(2)} s (${(product.peakRssBytes / MiB).toFixed(0)} MB, checked by ${product.result.checkedBy}), rclone ${rclone.seconds.toFixed(2)} s\n`,
      );
    }
    const of = (way: Run['way']) => measured.filter((run) => run.way === way);
    const productSeconds = median(of('product').map((run) => run.seconds));
    const rcloneSeconds = median(of('rclone').map((run) => run.seconds));
    const bytes = of('product')[0]?.result?.bytes ?? 0;
    const peak = Math.max(...of('product').map((run) => run.peakRssBytes));
    const summary = {
      schema: 'scholaria-backup/bench-offsite',
      version: 1,
      set: setName,
      bytes,
      runs: measured.map(({ result: _result, ...run }) => run),
      medians: { productSeconds, rcloneSeconds, ratio: productSeconds / rcloneSeconds },
      productPeakRssBytes: peak,
      targets: { ratio: { limit: 1.2, met: productSeconds / rcloneSeconds <= 1.2 }, memory: { limitBytes: 300 * 1e6, met: peak < 300 * 1e6 } },
    };
    mkdirSync(values['results-dir']!, { recursive: true });
    const file = join(values['results-dir']!, `offsite-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
    writeFileSync(file, `${JSON.stringify(summary, null, 2)}\n`);
    process.stdout.write(
      [
        '',
        `| way | median s | MB/s |`,
        `|---|---|---|`,
        `| product copySetOffsite | ${productSeconds.toFixed(2)} | ${(bytes / MiB / productSeconds).toFixed(0)} |`,
        `| rclone copy | ${rcloneSeconds.toFixed(2)} | ${(bytes / MiB / rcloneSeconds).toFixed(0)} |`,
        '',
        `product / rclone: ${(productSeconds / rcloneSeconds).toFixed(2)}x (target <= 1.2x: ${summary.targets.ratio.met ? 'met' : 'NOT met'})`,
        `product peak RSS: ${(peak / 1e6).toFixed(0)} MB (target < 300 MB: ${summary.targets.memory.met ? 'met' : 'NOT met'})`,
        `results: ${file}`,
        '',
      ].join('\n'),
    );
  } finally {
    await server.remove();
    rmSync(scratch, { recursive: true, force: true });
  }
}

main().catch((error: Error) => {
  process.stderr.write(`[bench-offsite] ${error.message}\n`);
  process.exit(1);
});
