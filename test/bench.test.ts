/**
 * The benchmark (issue 6) keeps working: one run of `bench/run.ts` at the small scale, every way of the
 * gzip profile, backup and restore. Nothing is asserted about speed; the figures of a test run on a
 * shared machine mean little. The dataset and results go to a temporary folder.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { PROJECT_ROOT } from '../devstack/tools';
import type { BenchResult } from '../bench/run';
import { scratchDir } from './support/stack';

const dir = scratchDir('bench');

after(() => rmSync(dir, { recursive: true, force: true }));

test('the benchmark runs at the small scale and writes its figures as JSON', { timeout: 240_000 }, async () => {
  const args = ['--import', 'tsx', join(PROJECT_ROOT, 'bench', 'run.ts'), '--scale', 'small', '--runs', '1', '--no-overhead', '--results-dir', join(dir, 'results')];
  if (process.env.TEST_TEMPORAL_ADDRESS) args.push('--temporal-address', process.env.TEST_TEMPORAL_ADDRESS);
  const { code, stdout, stderr } = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve, reject) => {
    const child = spawn(process.execPath, args, { cwd: PROJECT_ROOT, env: process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (text: string) => (out += text));
    child.stderr.setEncoding('utf8').on('data', (text: string) => (err += text));
    child.once('error', reject);
    child.once('close', (exit) => resolve({ code: exit ?? -1, stdout: out, stderr: err }));
  });
  assert.equal(code, 0, `${stdout}\n${stderr}`);
  assert.match(stdout, /scholaria-backup benchmark, scale small/);

  const files = readdirSync(join(dir, 'results')).filter((name) => name.endsWith('.json'));
  assert.equal(files.length, 1, `one results file, not ${files.join(', ')}`);
  const result = JSON.parse(readFileSync(join(dir, 'results', files[0]!), 'utf8')) as BenchResult;
  assert.equal(result.schema, 'scholaria-backup/bench');
  for (const operation of ['backup', 'restore'] as const) {
    for (const way of ['a', 'b', 'c'] as const) {
      const row = result.rows.find((r) => r.profile === 'gzip' && r.operation === operation && r.way === way);
      assert.ok(row, `a row for ${operation} (${way})`);
      assert.equal(row.failures, 0, `${operation} (${way}) ran without failure`);
      assert.ok(row.wallSeconds && row.wallSeconds.median > 0, `${operation} (${way}) has a wall time`);
    }
  }
  assert.ok(result.rows.find((r) => r.way === 'c' && r.operation === 'backup')?.peakRss?.worker, 'the worker peak memory is recorded');
  assert.equal(typeof result.machine.nproc, 'number');
});
