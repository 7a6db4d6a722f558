import type { Redis } from 'ioredis';
import type { ProgressReporter } from '../heartbeat';
import { keyCountsPerDatabase } from './local-server';

const BATCH = 500;

/**
 * Makes `target` hold exactly what `source` holds: FLUSHALL, then every key of every database copied
 * with DUMP/RESTORE, keeping its remaining TTL. Works against any Redis that accepts RESTORE, with no
 * access to its disk. Returns the keys copied per database: keys whose TTL has passed are not copied.
 */
export async function replaceAllKeys(source: Redis, target: Redis, progress: ProgressReporter): Promise<Record<string, number>> {
  await target.flushall();
  const databases = Object.keys(await keyCountsPerDatabase(source)).map((db) => Number(db.slice(2)));
  const copiedPerDatabase: Record<string, number> = {};
  let copied = 0;
  for (const db of databases) {
    await source.select(db);
    await target.select(db);
    let cursor = '0';
    do {
      const [next, keys] = await source.scanBuffer(cursor, 'COUNT', BATCH);
      cursor = next.toString();
      if (keys.length === 0) continue;
      const read = source.pipeline();
      for (const key of keys) read.dumpBuffer(key).pttl(key);
      const replies = (await read.exec()) ?? [];
      const write = target.pipeline();
      keys.forEach((key, index) => {
        const payload = replies[index * 2]?.[1] as Buffer | null;
        const ttl = replies[index * 2 + 1]?.[1] as number;
        // A key that expired between SCAN and DUMP is simply gone, as it would be on the server.
        if (payload === null || ttl === -2) return;
        write.restore(key, ttl > 0 ? ttl : 0, payload, 'REPLACE');
      });
      const results = (await write.exec()) ?? [];
      const failed = results.find(([error]) => error);
      if (failed?.[0]) throw new Error(`RESTORE into the target failed in db${db}: ${failed[0].message}`);
      copied += results.length;
      if (results.length > 0) copiedPerDatabase[`db${db}`] = (copiedPerDatabase[`db${db}`] ?? 0) + results.length;
      progress.bytes(copied);
    } while (cursor !== '0');
  }
  await source.select(0);
  await target.select(0);
  return copiedPerDatabase;
}
