#!/usr/bin/env node
// Runs the compiled JavaScript in dist/ (scripts/bootstrap.sh and the image build it) when it was
// built after every change to the product's sources; otherwise the TypeScript sources through tsx.
// Stale code never runs.
const { readdirSync, statSync } = require('node:fs');
const { join } = require('node:path');

const root = join(__dirname, '..');

// Node 20 is past its end of life: on an older Node, run again on the project's Node 24 (.tools/node,
// installed by scripts/bootstrap.sh), passing signals on so the worker still shuts down gracefully.
const projectNode = join(root, '.tools', 'node', 'bin', 'node');
if (Number(process.versions.node.split('.')[0]) < 22 && require('node:fs').existsSync(projectNode)) {
  const child = require('node:child_process').spawn(projectNode, process.argv.slice(1), { stdio: 'inherit' });
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(signal, () => child.kill(signal));
  child.on('exit', (code, signal) => process.exit(signal ? 128 + require('node:os').constants.signals[signal] : (code ?? 1)));
  return;
}
// The worker moves gigabytes through buffers that die young; a small young generation keeps its resident
// memory about 45 MB lower (issue 19: 271 MB idle with Node's default, 222 MB with this). execve keeps the
// pid, so signals, supervisors and the lifetime of the worker's children are unchanged.
const WORKER_YOUNG_GENERATION = '--max-semi-space-size=2';
if (process.argv[2] === 'worker' && typeof process.execve === 'function' && !process.execArgv.some((flag) => flag.startsWith('--max-semi-space-size'))) {
  process.execve(process.execPath, [process.execPath, WORKER_YOUNG_GENERATION, ...process.execArgv, ...process.argv.slice(1)], process.env);
}
const PRODUCT_DIRS = ['client', 'worker', 'workflows', 'activities', 'core'];

function builtAt() {
  try {
    return statSync(join(root, 'dist', '.built')).mtimeMs;
  } catch {
    return undefined;
  }
}

function changedSince(dir, time) {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory() ? changedSince(path, time) : statSync(path).mtimeMs > time) return true;
  }
  return false;
}

const built = builtAt();
if (built !== undefined && !PRODUCT_DIRS.some((dir) => changedSince(join(root, dir), built))) {
  require('../dist/client/cli.js').main(process.argv);
} else {
  require('tsx/cjs');
  require('../client/cli.ts').main(process.argv);
}
