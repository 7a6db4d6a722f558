/**
 * What a user compares after a restore: every table's content (a checksum over all rows in order),
 * sequence positions, and every Redis key with its type, value and TTL, in every database.
 */
import { Redis } from 'ioredis';
import { Client } from 'pg';

export async function tableChecksums(url: string): Promise<Record<string, string>> {
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    const { rows: tables } = await client.query<{ name: string }>(
      `SELECT format('%I.%I', schemaname, tablename) AS name FROM pg_tables
        WHERE schemaname NOT IN ('pg_catalog', 'information_schema') ORDER BY 1`,
    );
    const result: Record<string, string> = {};
    for (const { name } of tables) {
      const { rows } = await client.query<{ rows: string; digest: string }>(
        `SELECT count(*) AS rows, coalesce(md5(string_agg(t::text, E'\\n' ORDER BY t::text)), '') AS digest FROM ${name} t`,
      );
      result[name] = `${rows[0]!.rows} rows ${rows[0]!.digest}`;
    }
    const { rows: sequences } = await client.query<{ name: string; last: string | null }>(
      `SELECT format('%I.%I', schemaname, sequencename) AS name, last_value::text AS last FROM pg_sequences ORDER BY 1`,
    );
    for (const sequence of sequences) result[`sequence ${sequence.name}`] = sequence.last ?? 'unused';
    return result;
  } finally {
    await client.end();
  }
}

export interface KeyFingerprint {
  type: string;
  value: string;
  /** Remaining TTL in seconds, rounded; -1 for keys without expiry. */
  ttl: number;
}

/** Every key of every database (0-15) with type, canonical value and TTL. */
export async function redisFingerprint(url: string): Promise<Record<string, KeyFingerprint>> {
  const redis = new Redis(url, { lazyConnect: true });
  await redis.connect();
  const result: Record<string, KeyFingerprint> = {};
  try {
    for (let db = 0; db < 16; db += 1) {
      await redis.select(db);
      const keys = (await redis.keys('*')).sort();
      for (const key of keys) {
        const type = await redis.type(key);
        let value: unknown;
        if (type === 'string') value = await redis.get(key);
        else if (type === 'hash') value = Object.entries(await redis.hgetall(key)).sort();
        else if (type === 'list') value = await redis.lrange(key, 0, -1);
        else if (type === 'set') value = (await redis.smembers(key)).sort();
        else if (type === 'zset') value = await redis.zrange(key, '0', '-1', 'WITHSCORES');
        else value = (await redis.dump(key)) ?? '';
        const pttl = await redis.pttl(key);
        result[`db${db}:${key}`] = { type, value: JSON.stringify(value), ttl: pttl < 0 ? -1 : Math.round(pttl / 1000) };
      }
    }
  } finally {
    redis.disconnect();
  }
  return result;
}

/** TTLs drift by the seconds a test takes; compare them within a tolerance, the rest exactly. */
export function redisDifferences(
  expected: Record<string, KeyFingerprint>,
  actual: Record<string, KeyFingerprint>,
  ttlToleranceSeconds: number,
): string[] {
  const differences: string[] = [];
  for (const key of new Set([...Object.keys(expected), ...Object.keys(actual)])) {
    const want = expected[key];
    const got = actual[key];
    // A key whose TTL ran out while the test ran is rightly gone.
    if (want && !got && want.ttl !== -1 && want.ttl <= ttlToleranceSeconds) continue;
    if (!want || !got) differences.push(`${key}: ${want ? 'missing' : 'unexpected'}`);
    else if (want.type !== got.type || want.value !== got.value) differences.push(`${key}: content differs`);
    else if ((want.ttl === -1) !== (got.ttl === -1) || Math.abs(want.ttl - got.ttl) > ttlToleranceSeconds) {
      differences.push(`${key}: ttl ${want.ttl} became ${got.ttl}`);
    }
  }
  return differences.sort();
}

/** Every Qdrant collection with all its points (ids, vectors, payloads) in id order, and every alias. */
export async function qdrantFingerprint(url: string): Promise<{ collections: Record<string, unknown[]>; aliases: unknown[] }> {
  const call = async (method: string, path: string, body?: unknown) => {
    const response = await fetch(`${url}${path}`, {
      method,
      headers: { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (!response.ok) throw new Error(`Qdrant ${method} ${path}: HTTP ${response.status}`);
    return ((await response.json()) as { result: unknown }).result;
  };
  const { collections } = (await call('GET', '/collections')) as { collections: { name: string }[] };
  const result: Record<string, unknown[]> = {};
  for (const { name } of collections.sort((a, b) => a.name.localeCompare(b.name))) {
    const points: unknown[] = [];
    let offset: unknown = null;
    do {
      const page = (await call('POST', `/collections/${name}/points/scroll`, { limit: 100, offset, with_payload: true, with_vector: true })) as {
        points: unknown[];
        next_page_offset: unknown;
      };
      points.push(...page.points);
      offset = page.next_page_offset;
    } while (offset !== null && offset !== undefined);
    result[name] = points;
  }
  const { aliases } = (await call('GET', '/aliases')) as { aliases: { alias_name: string }[] };
  return { collections: result, aliases: aliases.sort((a, b) => a.alias_name.localeCompare(b.alias_name)) };
}
