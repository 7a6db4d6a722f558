import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { PROJECT_ROOT } from '../devstack/tools';
import { scratchDir } from './support/stack';

const stackDir = scratchDir('demo');
const env = { ...process.env, SCHOLARIA_STACK_DIR: stackDir };

function npmScript(script: string) {
  return spawnSync(process.execPath, ['--import', 'tsx', join(PROJECT_ROOT, 'devstack', `${script}.ts`)], {
    env,
    encoding: 'utf8',
    timeout: 300_000,
  });
}

after(() => {
  npmScript('stop');
  rmSync(stackDir, { recursive: true, force: true });
});

test('the demo backs up seeded PostgreSQL, Redis and the Qdrant stand-in through Temporal, verifies the set, and labels the stand-in', () => {
  const demo = npmScript('demo');
  assert.equal(demo.status, 0, demo.stdout + demo.stderr);
  assert.match(demo.stdout, /Qdrant STAND-IN http:\/\/127\.0\.0\.1:\d+ \(test\/support\/qdrant-standin: imitates Qdrant's REST API for tests; not a real Qdrant\)/);
  assert.match(demo.stdout, /Status: +complete/);
  for (const store of ['PostgreSQL', 'Redis', 'Qdrant']) assert.match(demo.stdout, new RegExp(`${store} +[\\d.]+ [KMG]?B +verified`));
  assert.match(demo.stdout, /Workflow: +backup-manual-\d{8}T\d{6}Z +http:\/\/127\.0\.0\.1:\d+\/namespaces\/default\/workflows\/backup-manual-/);
  assert.match(demo.stdout, /scholaria_backup_\d{8}_\d{6} \(complete\): verified/);
  assert.match(demo.stdout, /✔ Demo complete/);
  const stop = npmScript('stop');
  assert.match(stop.stdout, /Stopped: Temporal dev server \(pid \d+\), Redis \(port \d+\), PostgreSQL \(port \d+\)/);
});
