/**
 * `npm test`: one Temporal dev server and one workflow bundle for the whole suite, then every
 * test file under node's test runner, one file at a time (two cores; each file starts its own stores).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startTemporalDevServer } from '../devstack/temporal';
import { bundleWorkflows } from '../worker/bundle';

async function main(): Promise<number> {
  const only = process.argv.slice(2);
  const dir = mkdtempSync(join(tmpdir(), 'scholaria-suite-'));
  const testDir = __dirname;
  const files = readdirSync(testDir)
    .filter((name) => name.endsWith('.test.ts'))
    .filter((name) => only.length === 0 || only.some((pattern) => name.includes(pattern)))
    .sort()
    .map((name) => join(testDir, name));
  process.stdout.write(`[suite] bundling workflows and starting the Temporal dev server\n`);
  const bundlePath = join(dir, 'workflow-bundle.js');
  await bundleWorkflows(bundlePath);
  const server = await startTemporalDevServer({ uiPort: false, logFile: join(dir, 'temporal.log') });
  try {
    return await new Promise<number>((resolve, reject) => {
      const child = spawn(
        process.execPath,
        ['--import', 'tsx', '--test', '--test-concurrency=1', '--test-force-exit', '--test-reporter=spec', ...files],
        {
          stdio: ['ignore', 'pipe', 'inherit'],
          env: { ...process.env, TEST_TEMPORAL_ADDRESS: server.address, BACKUP_WORKFLOW_BUNDLE: bundlePath },
        },
      );
      // The reporter's own summary lines (`ℹ pass 3`), picked out as the output streams past.
      const totals: Record<string, number> = {};
      let partial = '';
      child.stdout.setEncoding('utf8').on('data', (text: string) => {
        process.stdout.write(text);
        const lines = (partial + text).split('\n');
        partial = lines.pop() ?? '';
        for (const line of lines) {
          const match = /^ℹ (pass|fail|skipped) (\d+)$/.exec(line);
          if (match) totals[match[1]!] = Number(match[2]);
        }
      });
      child.once('error', reject);
      child.once('close', (code) => {
        const count = (name: string) => totals[name] ?? 0;
        process.stdout.write(`\n${count('pass')} passed, ${count('fail')} failed, ${count('skipped')} skipped\n`);
        resolve(code ?? 1);
      });
    });
  } finally {
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}


main().then(
  (code) => process.exit(code),
  (error: Error) => {
    process.stderr.write(`[suite] ${error.message}\n`);
    process.exit(1);
  },
);
