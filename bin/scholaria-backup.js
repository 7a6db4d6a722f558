#!/usr/bin/env node
// Runs the TypeScript sources through tsx, so the CLI needs no build step.
require('tsx/cjs');
require('../src/client/cli.ts').main(process.argv);
