/**
 * The benchmark (issues 6, 16, 19) keeps working: `bench/run.ts` at the small scale, every way of the
 * gzip profile, backup and restore, with its progress lines; the shell ways of the encrypted profile;
 * and its options. Nothing is asserted about speed; the figures of a test run on a shared machine mean
 * little. The dataset and results go to a temporary folder.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { PROJECT_ROOT } from '../devstack/tools';
import { parseOptions, type BenchResult } from '../bench/run';
import { scratchDir } from './support/stack';

const dir = scratchDir('bench');

after(() => rmSync(dir, { recursive: true, force: true }));

/** Runs the benchmark at the small scale with `args`; its exit code, output and the figures it wrote. */
async function bench(name: string, args: string[]): Promise<{ stdout: string; stderr: string; result: BenchResult }> {
  const resultsDir = join(dir, name);
  const all = ['--import', 'tsx', join(PROJECT_ROOT, 'bench', 'run.ts'), '--scale', 'small', '--runs', '1', '--no-overhead', '--results-dir', resultsDir, '--cache', join(dir, 'dataset'), ...args];
  if (process.env.TEST_TEMPORAL_ADDRESS) all.push('--temporal-address', process.env.TEST_TEMPORAL_ADDRESS);
  const { code, stdout, stderr } = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve, reject) => {
    const child = spawn(process.execPath, all, { cwd: PROJECT_ROOT, env: process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (text: string) => (out += text));
    child.stderr.setEncoding('utf8').on('data', (text: string) => (err += text));
    child.once('error', reject);
    child.once('close', (exit) => resolve({ code: exit ?? -1, stdout: out, stderr: err }));
  });
  assert.equal(code, 0, `${stdout}\n${stderr}`);
  assert.match(stdout, /scholaria-backup benchmark, scale small/);
  const files = readdirSync(resultsDir).filter((file) => file.endsWith('.json'));
  assert.equal(files.length, 1, `one results file, not ${files.join(', ')}`);
  const result = JSON.parse(readFileSync(join(resultsDir, files[0]!), 'utf8')) as BenchResult;
  assert.equal(result.schema, 'scholaria-backup/bench');
  return { stdout, stderr, result };
}

test('options: a list of scales, the encrypted twins of the profiles, and refusals of what it cannot run', () => {
  const options = parseOptions(['--scale', '0.5,1.5,3', '--profile', 'all', '--encrypted']);
  assert.deepEqual(options.scales.map((scale) => scale.name), ['0.5gb', 'default', '3gb'], '1.5 GB is the default scale, its dataset reused');
  assert.deepEqual(options.profiles, ['gzip', 'zstd', 'gzip-age', 'zstd-age']);
  assert.equal(options.runs, 3, 'three runs by default');
  assert.deepEqual(parseOptions(['--profile', 'zstd-age']).profiles, ['zstd-age']);
  assert.deepEqual(parseOptions(['--profile', 'gzip', '--encrypted']).profiles, ['gzip', 'gzip-age']);
  assert.throws(() => parseOptions(['--profile', 'lz4']), /--profile takes gzip, zstd, gzip-age, zstd-age or all/);
  assert.throws(() => parseOptions(['--scale', '1,1']), /--scale lists a scale twice/);
  assert.throws(() => parseOptions(['--scale', 'default,1.5']), /--scale lists a scale twice/);
  assert.throws(() => parseOptions(['--scale', 'huge']), /--scale must be small, default or a size in GB/);
  assert.throws(() => parseOptions(['--offsite', '--ways', 'a,b']), /--offsite copies a set of way \(c\)/);
});

test('the benchmark runs at the small scale, tells its progress, and writes its figures as JSON', { timeout: 300_000 }, async () => {
  const { stderr, result } = await bench('gzip', ['--heartbeat', '1']);
  for (const operation of ['backup', 'restore'] as const) {
    for (const way of ['a', 'b', 'c'] as const) {
      const row = result.rows.find((r) => r.profile === 'gzip' && r.operation === operation && r.way === way);
      assert.ok(row, `a row for ${operation} (${way})`);
      assert.equal(row.failures, 0, `${operation} (${way}) ran without failure`);
      assert.ok(row.wallSeconds && row.wallSeconds.median > 0, `${operation} (${way}) has a wall time`);
      assert.ok(row.cpuTotalSeconds && row.cpuTotalSeconds.min <= row.cpuTotalSeconds.median && row.cpuTotalSeconds.median <= row.cpuTotalSeconds.max);
      assert.match(stderr, new RegExp(`gzip ${operation} \\(${way}\\) run 1/1: started`));
      assert.match(stderr, new RegExp(`gzip ${operation} \\(${way}\\) run 1/1: done in [\\d.]+ s`));
    }
  }
  // Heartbeats: the shell way's bytes so far, and the product's phase from its workflow's activities.
  assert.match(stderr, /gzip backup \(a\) run 1\/1: [\d.]+ s, [\d.]+ MB written/);
  assert.match(stderr, /gzip backup \(c\) run 1\/1: [\d.]+ s, (backup|verify|probe)[A-Z]\w+ /);
  assert.ok(result.rows.find((r) => r.way === 'c' && r.operation === 'backup')?.peakRss?.worker, 'the worker peak memory is recorded');
  assert.ok(result.targets.some((t) => t.issue === '#19' && t.name === 'zstd backup c/b (wall)' && t.limit === 1.25), 'the targets of issue 19');
  assert.equal(typeof result.machine.nproc, 'number');
});

test('the encrypted profile: the shell ways write age files that their restores decrypt', { timeout: 300_000 }, async () => {
  const { result } = await bench('gzip-age', ['--profile', 'gzip-age', '--ways', 'a,b']);
  for (const way of ['a', 'b'] as const) {
    const backup = result.measurements.find((m) => m.profile === 'gzip-age' && m.operation === 'backup' && m.way === way);
    assert.ok(backup?.ok, `backup (${way}) succeeded: ${backup?.error ?? ''}`);
    const data = (backup.files ?? []).filter((name) => name !== 'SHA256SUMS');
    assert.equal(data.length, 4);
    for (const name of data) assert.match(name, /\.age$/, `(${way}) encrypted ${name}`);
    // The restore decrypts with the identity and checks the restored row count against the dataset.
    const restore = result.measurements.find((m) => m.profile === 'gzip-age' && m.operation === 'restore' && m.way === way);
    assert.ok(restore?.ok, `restore (${way}) succeeded: ${restore?.error ?? ''}`);
  }
});
