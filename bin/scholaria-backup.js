#!/usr/bin/env node
// Runs the compiled JavaScript in dist/ (scripts/bootstrap.sh and the image build it) when it was
// built after every change to src/; otherwise the TypeScript sources through tsx. Stale code never runs.
const { readdirSync, statSync } = require('node:fs');
const { join } = require('node:path');

const root = join(__dirname, '..');

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
if (built !== undefined && !changedSince(join(root, 'src'), built)) {
  require('../dist/client/cli.js').main(process.argv);
} else {
  require('tsx/cjs');
  require('../src/client/cli.ts').main(process.argv);
}
