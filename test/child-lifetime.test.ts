import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { once } from 'node:events';
import { join } from 'node:path';
import { test } from 'node:test';
import { scratchDir } from './support/stack';
import { isAlive } from '../devstack/local-stack';
import { spawnChecked } from '../activities/child-process';

test('a worker killed with SIGKILL takes its children with it (scratch redis-server, spawned tools)', async () => {
  const dir = scratchDir('children');
  const parent = spawn(process.execPath, ['--import', 'tsx', join(__dirname, 'faults', 'spawn-children.ts'), dir], { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    const [line] = (await once(parent.stdout.setEncoding('utf8'), 'data')) as [string];
    const pids = JSON.parse(line) as { redis: number; sleep: number };
    assert.ok(isAlive(pids.redis) && isAlive(pids.sleep), 'the children run while their parent does');
    parent.kill('SIGKILL');
    await once(parent, 'exit');
    const deadline = Date.now() + 5000;
    while ((isAlive(pids.redis) || isAlive(pids.sleep)) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
    const left = Object.entries(pids).filter(([, pid]) => isAlive(pid));
    for (const [, pid] of left) process.kill(pid, 'SIGKILL');
    assert.deepEqual(left.map(([name]) => name), [], 'no child outlived its SIGKILLed parent');
  } finally {
    if (parent.exitCode === null) parent.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a child that fails after its caller stopped listening does not end the worker with an unhandled rejection', async () => {
  const unhandled: unknown[] = [];
  const record = (reason: unknown) => unhandled.push(reason);
  process.on('unhandledRejection', record);
  try {
    // As when a stream breaks first and the caller gives up before the checker exits with its error.
    const checker = spawnChecked('sh', ['-c', 'sleep 0.1; exit 1'], {});
    await once(checker.process, 'close');
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.deepEqual(unhandled, []);
    await assert.rejects(checker.done, /sh exited with code 1/, 'the failure still reaches a caller that awaits it');
  } finally {
    process.off('unhandledRejection', record);
  }
});
