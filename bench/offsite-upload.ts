/**
 * The offsite copy of one of (c)'s sets against `rclone copy` (issue 15), for `bench/run.ts --offsite`.
 *
 * The offsite engineer is to export `compareOffsiteUpload` with this signature from bench/offsite.ts;
 * until then (that file still runs its own command line when imported) this adapter runs it as a
 * command on the given set and reads the figures it writes. When the export lands, this file becomes
 * `export { compareOffsiteUpload } from './offsite'`.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PROJECT_ROOT } from '../devstack/tools';
import type { Log } from './progress';

export interface OffsiteUploadComparison {
  /** Medians over the runs. */
  productSeconds: number;
  rcloneSeconds: number;
  /** productSeconds / rcloneSeconds. */
  ratio: number;
  productPeakRssBytes: number;
}

interface OffsiteFigures {
  schema: string;
  medians: { productSeconds: number; rcloneSeconds: number; ratio: number };
  productPeakRssBytes: number;
}

export async function compareOffsiteUpload(options: { backupDir: string; set: string; runs: number; log: Log }): Promise<OffsiteUploadComparison> {
  const resultsDir = mkdtempSync(join(tmpdir(), 'scholaria-bench-offsite-results-'));
  try {
    const args = ['--import', 'tsx', join(PROJECT_ROOT, 'bench', 'offsite.ts'), '--backup-dir', options.backupDir, '--set', options.set, '--runs', String(options.runs), '--results-dir', resultsDir];
    const { code, stderr } = await new Promise<{ code: number; stderr: string }>((resolve, reject) => {
      const child = spawn(process.execPath, args, { cwd: PROJECT_ROOT, env: process.env, stdio: ['ignore', 'pipe', 'pipe'] });
      let err = '';
      child.stdout.setEncoding('utf8').on('data', (text: string) => {
        for (const line of text.split('\n')) if (line.startsWith('[bench-offsite]')) options.log(`offsite: ${line.replace('[bench-offsite] ', '')}`);
      });
      child.stderr.setEncoding('utf8').on('data', (text: string) => (err = (err + text).slice(-4000)));
      child.once('error', reject);
      child.once('close', (exit) => resolve({ code: exit ?? -1, stderr: err }));
    });
    if (code !== 0) throw new Error(`the offsite comparison failed (exit ${code}): ${stderr.trim().split('\n').slice(-3).join(' | ')}`);
    const file = readdirSync(resultsDir).find((name) => name.startsWith('offsite-') && name.endsWith('.json'));
    if (!file) throw new Error('the offsite comparison wrote no figures');
    const figures = JSON.parse(readFileSync(join(resultsDir, file), 'utf8')) as OffsiteFigures;
    return { ...figures.medians, productPeakRssBytes: figures.productPeakRssBytes };
  } finally {
    rmSync(resultsDir, { recursive: true, force: true });
  }
}
