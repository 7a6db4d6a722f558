/**
 * A stand-in for a worker's process tree: starts a scratch redis-server (as a Redis restore does) and a
 * child through spawnChecked (as every dump, restore and filter does), prints their pids, then waits to
 * be killed. Used by test/child-lifetime.test.ts.
 */
import { join } from 'node:path';
import { spawnChecked } from '../../activities/child-process';
import { startLocalRedis } from '../../activities/redis/local-server';

async function main(): Promise<void> {
  const dir = process.argv[2]!;
  const redis = await startLocalRedis({ dir: join(dir, 'redis') });
  const sleeper = spawnChecked('sleep', ['600'], {});
  sleeper.done.catch(() => undefined);
  process.stdout.write(`${JSON.stringify({ redis: redis.pid, sleep: sleeper.process.pid })}\n`);
  setInterval(() => undefined, 1000);
}

void main();
