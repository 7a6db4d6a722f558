/**
 * The reference dataset, built once per scale and reused: a private PostgreSQL cluster and one Redis
 * per scale, their data kept in the dataset cache folder (git-ignored, under bench-results/).
 *
 * PostgreSQL: users → topics → contexts → chunks (a foreign key chain), chunk text of about 1 KB made
 * from a generated vocabulary (so it compresses like prose, not like padding), a jsonb metadata
 * column, B-tree and GIN indexes; generated server-side with generate_series.
 * Redis: cache strings, session hashes with TTLs, sorted sets, lists and sets in db0, and a Celery-like
 * broker (a long queue list, an unacked hash, binding sets) in db1; written with `redis-cli --pipe`.
 *
 * A marker file per scale records what was built (row counts, key counts, sizes); a run checks the
 * stores against it before measuring, and again after the product's restore wrote over them.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from 'pg';
import { connectOnce } from '../activities/redis/connection';
import { keyCountsPerDatabase, startLocalRedis, type LocalRedis } from '../activities/redis/local-server';
import { startLocalPostgres, type LocalPostgres } from '../devstack/postgres';
import { freePort } from '../devstack/ports';
import { DEFAULT_HEARTBEAT_SECONDS, heartbeat, type Log } from './progress';

/** Bumped whenever the generator changes, so an old cache is rebuilt rather than measured. */
const GENERATOR_VERSION = 5;
/** Bytes of database (heap + indexes) per chunk row, measured at the small and default scales. */
const DB_BYTES_PER_CHUNK = 1_716;
/** pg_database_size of an empty database. */
const EMPTY_DB_BYTES = 7_500_000;

export interface Scale {
  name: string;
  /** Target pg_database_size. */
  dbBytes: number;
  /** Target number of Redis keys. */
  keys: number;
}

export function parseScale(text: string): Scale {
  if (text === 'small') return { name: 'small', dbBytes: 30e6, keys: 20_000 };
  const defaultScale = { name: 'default', dbBytes: 1.5e9, keys: 1_000_000 };
  if (text === 'default') return defaultScale;
  const gigabytes = Number(text.replace(/gb$/i, ''));
  if (!Number.isFinite(gigabytes) || gigabytes <= 0 || gigabytes > 200) {
    throw new Error(`--scale must be small, default or a size in GB (e.g. 0.5), not ${JSON.stringify(text)}`);
  }
  // The same data under one name, so `--scale 0.5,1.5,3` reuses the default scale's dataset.
  if (gigabytes * 1e9 === defaultScale.dbBytes) return defaultScale;
  return { name: `${gigabytes}gb`, dbBytes: gigabytes * 1e9, keys: Math.max(1000, Math.round((1e6 * gigabytes) / 1.5)) };
}

export interface DatasetMarker {
  generator: number;
  scale: Scale;
  database: string;
  builtAt: string;
  buildSeconds: { postgres: number; redis: number };
  rows: Record<string, number>;
  dbBytes: number;
  keys: Record<string, number>;
  rdbBytes: number;
  redisUsedMemory: number;
}

export interface Dataset {
  scale: Scale;
  marker: DatasetMarker;
  postgres: LocalPostgres;
  redis: LocalRedis;
  /** The benchmark database (the product's POSTGRES_URL). */
  databaseUrl: string;
  database: string;
  /** PID of the postmaster and of redis-server, for their CPU time. */
  postgresPid(): number | undefined;
  redisPid: number;
  reused: boolean;
  stop(): Promise<void>;
}

/** Starts the cached stores for `scale`, building (or rebuilding) the data when the marker does not match. */
export async function openDataset(cacheDir: string, scale: Scale, options: { rebuild?: boolean; log: Log; heartbeatSeconds?: number }): Promise<Dataset> {
  const { log } = options;
  const every = options.heartbeatSeconds ?? DEFAULT_HEARTBEAT_SECONDS;
  mkdirSync(cacheDir, { recursive: true, mode: 0o755 });
  const postgres = await startLocalPostgres({ dir: join(cacheDir, 'postgres') });
  const database = `scholaria_${scale.name.replace(/[^a-z0-9]/g, '_')}`;
  const databaseUrl = postgres.url(database);
  const markerPath = join(cacheDir, `${scale.name}.json`);
  const redisDir = join(cacheDir, `redis-${scale.name}`);
  const rdbPath = join(redisDir, 'dump.rdb');
  let marker = readMarker(markerPath);
  if (marker && (marker.generator !== GENERATOR_VERSION || marker.scale.dbBytes !== scale.dbBytes || marker.scale.keys !== scale.keys)) {
    marker = undefined;
  }
  if (options.rebuild) marker = undefined;

  let redis: LocalRedis | undefined;
  try {
    // The RDB stream of `redis-cli --rdb` and of the product waits repl-diskless-sync-delay (5 s by default)
    // for more replicas before it starts; 0 sends at once, as the test stores do. Every way gets the same server.
    const redisArgs = ['--repl-diskless-sync-delay', '0'];
    const startRedis = async (withData: boolean) =>
      startLocalRedis({
        dir: redisDir,
        port: await freePort(),
        extraArgs: redisArgs,
        ...(withData && existsSync(rdbPath) ? { rdbFile: rdbPath } : {}),
      });

    let reused = false;
    if (marker) {
      redis = await startRedis(true);
      const beat = heartbeat(log, `checking the dataset ${scale.name} against its marker`, every, () => '');
      const problem = await checkDataset(databaseUrl, redis.url, marker).finally(() => beat.stop());
      if (problem) {
        log(`dataset ${scale.name}: ${problem}; rebuilding it`);
        marker = undefined;
      } else {
        reused = true;
      }
    }
    if (!marker) {
      rmSync(markerPath, { force: true });
      if (redis) await redis.stop();
      rmSync(rdbPath, { force: true });
      redis = await startRedis(false);
      log(`building the dataset ${scale.name}: PostgreSQL, then Redis (progress every ${every} s)`);
      const pgSeconds = await timed(() => buildPostgres(postgres.url(), database, scale, log, every));
      log(`  PostgreSQL built in ${pgSeconds.toFixed(1)} s`);
      const redisSeconds = await timed(() => buildRedis(redis!.url, scale, log, every));
      log(`  Redis written in ${redisSeconds.toFixed(1)} s; saving its RDB`);
      const client = await connectOnce(redis.url);
      let usedMemory = 0;
      let keys: Record<string, number>;
      try {
        await client.call('SAVE');
        keys = await keyCountsPerDatabase(client);
        usedMemory = Number(/used_memory:(\d+)/.exec(await client.info('memory'))?.[1] ?? 0);
      } finally {
        client.disconnect();
      }
      const facts = await databaseFacts(databaseUrl);
      marker = {
        generator: GENERATOR_VERSION,
        scale,
        database,
        builtAt: new Date().toISOString(),
        buildSeconds: { postgres: pgSeconds, redis: redisSeconds },
        rows: facts.rows,
        dbBytes: facts.bytes,
        keys,
        rdbBytes: statSync(rdbPath).size,
        redisUsedMemory: usedMemory,
      };
      writeFileSync(markerPath, `${JSON.stringify(marker, null, 2)}\n`);
      log(
        `dataset ${scale.name} built: PostgreSQL ${mb(marker.dbBytes)} in ${pgSeconds.toFixed(1)} s, ` +
          `Redis ${sum(keys)} keys (RDB ${mb(marker.rdbBytes)}) in ${redisSeconds.toFixed(1)} s`,
      );
    }
    const pidFile = join(postgres.dataDir, 'postmaster.pid');
    const finalRedis = redis!;
    const finalMarker = marker;
    return {
      scale,
      marker: finalMarker,
      postgres,
      redis: finalRedis,
      database,
      databaseUrl,
      reused,
      redisPid: finalRedis.pid,
      postgresPid: () => {
        try {
          return Number(readFileSync(pidFile, 'utf8').split('\n')[0]);
        } catch {
          return undefined;
        }
      },
      stop: async () => {
        await finalRedis.stop();
        await postgres.stop();
      },
    };
  } catch (error) {
    await redis?.stop().catch(() => undefined);
    await postgres.stop().catch(() => undefined);
    throw error;
  }
}

/** Why the stores no longer hold the dataset of `marker`, or undefined when they do. */
export async function checkDataset(databaseUrl: string, redisUrl: string, marker: DatasetMarker): Promise<string | undefined> {
  let facts;
  try {
    facts = await databaseFacts(databaseUrl);
  } catch (error) {
    return `PostgreSQL database unreadable (${(error as Error).message})`;
  }
  for (const [table, count] of Object.entries(marker.rows)) {
    if (facts.rows[table] !== count) return `table ${table} holds ${facts.rows[table] ?? 'no'} rows, the dataset ${count}`;
  }
  if (facts.indexes < 8) return `only ${facts.indexes} indexes in the database`;
  const client = await connectOnce(redisUrl);
  try {
    const keys = await keyCountsPerDatabase(client);
    for (const [db, count] of Object.entries(marker.keys)) {
      if (keys[db] !== count) return `Redis ${db} holds ${keys[db] ?? 0} keys, the dataset ${count}`;
    }
  } finally {
    client.disconnect();
  }
  return undefined;
}

async function databaseFacts(databaseUrl: string): Promise<{ rows: Record<string, number>; bytes: number; indexes: number }> {
  const client = new Client({ connectionString: databaseUrl, application_name: 'bench-check' });
  await client.connect();
  try {
    const rows: Record<string, number> = {};
    for (const table of ['users', 'topics', 'contexts', 'chunks']) {
      rows[table] = Number((await client.query<{ n: string }>(`SELECT count(*) AS n FROM ${table}`)).rows[0]!.n);
    }
    const bytes = Number((await client.query<{ b: string }>('SELECT pg_database_size(current_database()) AS b')).rows[0]!.b);
    const indexes = Number((await client.query<{ n: string }>("SELECT count(*) AS n FROM pg_indexes WHERE schemaname = 'public'")).rows[0]!.n);
    return { rows, bytes, indexes };
  } finally {
    await client.end();
  }
}

// ---------------------------------------------------------------------------------------------- PostgreSQL

const SYLLABLES = [
  'a', 'an', 'ar', 'ba', 'be', 'ci', 'co', 'da', 'de', 'di', 'e', 'el', 'en', 'er', 'es', 'fa', 'ge', 'ha', 'i', 'in',
  'is', 'ka', 'la', 'le', 'li', 'lo', 'ma', 'me', 'mi', 'na', 'ne', 'no', 'o', 'on', 'or', 'pa', 'pe', 'ra', 're', 'ri',
  'ro', 'sa', 'se', 'si', 'so', 'st', 'ta', 'te', 'th', 'ti', 'to', 'tr', 'u', 'un', 'ur', 've', 'vi', 'wa', 'yo', 'za',
];
const TAGS = [
  'physics', 'history', 'biology', 'economics', 'chemistry', 'literature', 'statistics', 'law', 'medicine', 'geology',
  'linguistics', 'philosophy', 'astronomy', 'sociology', 'music', 'computing', 'ecology', 'ethics', 'algebra', 'art',
];

function sqlArray(values: string[]): string {
  return `ARRAY[${values.map((value) => `'${value}'`).join(',')}]`;
}

async function buildPostgres(adminUrl: string, database: string, scale: Scale, log: Log, every: number): Promise<void> {
  const chunks = Math.max(1000, Math.round((scale.dbBytes - EMPTY_DB_BYTES) / DB_BYTES_PER_CHUNK / 10) * 10);
  const contexts = chunks / 10;
  const topics = Math.max(10, Math.ceil(contexts / 10));
  const users = Math.max(10, Math.ceil(topics / 5));
  // A pool as large as the chunk count keeps repeats rare inside a compressor's window, as in real text.
  const sentences = Math.min(1_000_000, Math.max(50_000, chunks));
  log(`building PostgreSQL ${database}: ${users} users, ${topics} topics, ${contexts} contexts, ${chunks} chunks`);

  const admin = new Client({ connectionString: adminUrl });
  await admin.connect();
  try {
    await admin.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
    await admin.query(`CREATE DATABASE ${database} TEMPLATE template0`);
  } finally {
    await admin.end();
  }
  const url = new URL(adminUrl);
  url.pathname = `/${database}`;
  const client = new Client({ connectionString: url.toString(), application_name: 'bench-build' });
  await client.connect();
  const run = async (what: string, sql: string) => {
    const started = Date.now();
    const beat = heartbeat(log, `  still building: ${what}`, every, () => '', started);
    try {
      await client.query(sql);
    } finally {
      beat.stop();
    }
    log(`  ${what} (${((Date.now() - started) / 1000).toFixed(1)} s)`);
  };
  try {
    await client.query("SET maintenance_work_mem = '256MB'");
    await client.query("SET work_mem = '64MB'");
    await client.query('SELECT setseed(0.20261126)');
    await run(
      'vocabulary',
      `CREATE UNLOGGED TABLE bench_words AS
         SELECT i AS wid,
                (SELECT string_agg(s.syl[1 + floor(random() * ${SYLLABLES.length})::int + 0 * k], '')
                   FROM generate_series(1, 1 + (i % 4) + (i % 7) / 5) k) AS w
           FROM generate_series(1, 6000) i, (SELECT ${sqlArray(SYLLABLES)} AS syl) s;
       CREATE UNIQUE INDEX ON bench_words (wid);
       CREATE UNLOGGED TABLE bench_sentences AS
         SELECT p.sid, upper(left(string_agg(w.w, ' ' ORDER BY p.k), 1)) || substr(string_agg(w.w, ' ' ORDER BY p.k), 2) || '.' AS t
           FROM (SELECT sid, k, 1 + floor(6000 * power(random(), 2.2))::int AS wid
                   FROM generate_series(1, ${sentences}) sid, LATERAL generate_series(1, 11 + sid % 7) k) p
           JOIN bench_words w USING (wid)
          GROUP BY p.sid;
       CREATE UNIQUE INDEX ON bench_sentences (sid);
       ANALYZE bench_sentences;`,
    );
    await run(
      'tables',
      `CREATE TABLE users (id bigint NOT NULL, email text NOT NULL, display_name text NOT NULL, created_at timestamptz NOT NULL, settings jsonb NOT NULL);
       CREATE TABLE topics (id bigint NOT NULL, user_id bigint NOT NULL, title text NOT NULL, created_at timestamptz NOT NULL);
       CREATE TABLE contexts (id bigint NOT NULL, topic_id bigint NOT NULL, title text NOT NULL, source_url text NOT NULL, summary text NOT NULL, created_at timestamptz NOT NULL);
       CREATE TABLE chunks (id bigint NOT NULL, context_id bigint NOT NULL, chunk_index integer NOT NULL, content text NOT NULL,
                            token_count integer NOT NULL, metadata jsonb NOT NULL, created_at timestamptz NOT NULL);`,
    );
    const sentence = (expr: string) => `(SELECT t FROM bench_sentences WHERE sid = 1 + abs(hashint8(${expr})) % ${sentences})`;
    await run(
      `users, topics, contexts`,
      `INSERT INTO users
         SELECT i, 'user' || i || '@example.org', ${sentence('i * 7')},
                timestamptz '2024-01-01' + (i % 700) * interval '1 day',
                jsonb_build_object('locale', (ARRAY['en','ko','de'])[1 + i % 3], 'theme', 'light', 'notifications', i % 2 = 0)
           FROM generate_series(1, ${users}) i;
       INSERT INTO topics
         SELECT i, 1 + (i - 1) % ${users}, left(${sentence('i * 11')}, 80), timestamptz '2024-02-01' + (i % 600) * interval '1 day'
           FROM generate_series(1, ${topics}) i;
       INSERT INTO contexts
         SELECT i, 1 + (i - 1) / 10, left(${sentence('i * 13')}, 100), 'https://docs.example.org/' || md5(i::text) || '.pdf',
                ${sentence('i * 13 + 1')} || ' ' || ${sentence('i * 13 + 2')},
                timestamptz '2024-03-01' + (i % 500) * interval '1 day'
           FROM generate_series(1, ${contexts}) i;`,
    );
    const batch = 100_000;
    const started = Date.now();
    let lastLog = started;
    for (let from = 1; from <= chunks; from += batch) {
      const to = Math.min(chunks, from + batch - 1);
      await client.query(
        `INSERT INTO chunks
           SELECT g.id, 1 + (g.id - 1) / 10, (g.id - 1) % 10, c.content, length(c.content) / 4,
                  jsonb_build_object(
                    'source', 'doc-' || ((g.id / 10) % 50000), 'page', g.id % 400,
                    'lang', (ARRAY['en','en','en','ko','de','fr'])[1 + g.id % 6],
                    'section', left(c.content, 48),
                    'tags', jsonb_build_array(t.tags[1 + abs(hashint8(g.id * 3)) % 20], t.tags[1 + abs(hashint8(g.id * 3 + 1)) % 20]),
                    'embedding_model', 'text-embedding-3-small', 'score', round((abs(hashint8(g.id)) % 10000) / 10000.0, 4),
                    'checksum', md5(c.content), 'ingested_by', 'ingest-worker-' || (g.id % 8)),
                  timestamptz '2024-03-01' + (g.id % 500) * interval '1 day' + (g.id % 86400) * interval '1 second'
             FROM generate_series(${from}, ${to}) g(id)
             CROSS JOIN (SELECT ${sqlArray(TAGS)} AS tags) t
             CROSS JOIN LATERAL (
               SELECT string_agg(s.t, ' ') AS content FROM bench_sentences s
                WHERE s.sid = ANY (ARRAY(SELECT 1 + abs(hashint8(g.id * 16 + k)) % ${sentences} FROM generate_series(1, 11) k))
             ) c`,
      );
      if (to === chunks || Date.now() - lastLog >= every * 1000) {
        lastLog = Date.now();
        log(`  chunks ${to}/${chunks} (${((Date.now() - started) / 1000).toFixed(1)} s)`);
      }
    }
    await run(
      'keys, indexes, foreign keys',
      `ALTER TABLE users ADD PRIMARY KEY (id);
       CREATE UNIQUE INDEX users_email ON users (email);
       ALTER TABLE topics ADD PRIMARY KEY (id);
       ALTER TABLE contexts ADD PRIMARY KEY (id);
       ALTER TABLE chunks ADD PRIMARY KEY (id);
       CREATE INDEX topics_user ON topics (user_id);
       CREATE INDEX contexts_topic ON contexts (topic_id);
       CREATE UNIQUE INDEX chunks_context_index ON chunks (context_id, chunk_index);
       CREATE INDEX chunks_metadata ON chunks USING gin (metadata jsonb_path_ops);
       ALTER TABLE topics ADD FOREIGN KEY (user_id) REFERENCES users (id);
       ALTER TABLE contexts ADD FOREIGN KEY (topic_id) REFERENCES topics (id);
       ALTER TABLE chunks ADD FOREIGN KEY (context_id) REFERENCES contexts (id) ON DELETE CASCADE;
       DROP TABLE bench_words, bench_sentences;`,
    );
    await run('VACUUM (FREEZE, ANALYZE)', 'VACUUM (FREEZE, ANALYZE)');
    await client.query('CHECKPOINT');
  } finally {
    await client.end();
  }
}

// ---------------------------------------------------------------------------------------------- Redis

/** mulberry32: a small deterministic PRNG, so every build of a scale holds the same data. */
function prng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function resp(args: (string | number)[]): string {
  let out = `*${args.length}\r\n`;
  for (const arg of args) {
    const text = String(arg);
    out += `$${Buffer.byteLength(text)}\r\n${text}\r\n`;
  }
  return out;
}

async function buildRedis(url: string, scale: Scale, log: Log, every: number): Promise<void> {
  const port = new URL(url).port;
  const random = prng(6);
  const pick = <T>(items: readonly T[]) => items[Math.floor(random() * items.length)]!;
  const words = Array.from({ length: 3000 }, () =>
    Array.from({ length: 1 + Math.floor(random() * 3) }, () => pick(SYLLABLES)).join(''),
  );
  const zipfWord = () => words[Math.floor(words.length * random() ** 2.2)]!;
  const phrase = (n: number) => Array.from({ length: n }, zipfWord).join(' ');
  const day = 86_400;
  const longTtl = () => 400 * day + Math.floor(random() * 60 * day);
  const total = scale.keys;
  log(`building Redis: ${total} keys`);

  const child = spawn('redis-cli', ['-h', '127.0.0.1', '-p', port, '--pipe'], { stdio: ['pipe', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.setEncoding('utf8').on('data', (text: string) => (output += text));
  child.stderr.setEncoding('utf8').on('data', (text: string) => (output += text));
  const exited = new Promise<number>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code) => resolve(code ?? 1));
  });
  let buffer = '';
  const write = async (command: (string | number)[]) => {
    buffer += resp(command);
    if (buffer.length > 1 << 20) {
      const chunk = buffer;
      buffer = '';
      if (!child.stdin.write(chunk)) await new Promise((resolve) => child.stdin.once('drain', resolve));
    }
  };

  // db1: a Celery broker (kombu's keys): one long queue, the unacked hash and index, the binding set.
  const queued = Math.max(100, Math.floor(total / 100));
  await write(['SELECT', 1]);
  for (let i = 0; i < queued; i += 50) {
    const items: string[] = [];
    for (let j = i; j < Math.min(queued, i + 50); j++) items.push(celeryMessage(j, random, phrase));
    await write(['RPUSH', 'celery', ...items]);
  }
  const unacked = Math.max(10, Math.floor(total / 1000));
  for (let i = 0; i < unacked; i++) {
    await write(['HSET', 'unacked', `task-${i}`, celeryMessage(queued + i, random, phrase)]);
    await write(['ZADD', 'unacked_index', 1_764_000_000 + i, `task-${i}`]);
  }
  await write(['SADD', '_kombu.binding.celery', 'celery\x06\x16\x06\x16celery']);
  await write(['SELECT', 0]);

  const db0 = total - 4;
  const started = Date.now();
  let lastLog = started;
  for (let i = 0; i < db0; i++) {
    if (i % 1000 === 0 && Date.now() - lastLog >= every * 1000) {
      lastLog = Date.now();
      log(`  Redis keys ${i}/${db0} written (${((lastLog - started) / 1000).toFixed(1)} s)`);
    }
    const kind = random();
    if (kind < 0.62) {
      const value = JSON.stringify({
        topic_id: Math.floor(random() * 100_000),
        title: phrase(6),
        answer: phrase(20 + Math.floor(random() * 60)),
        sources: Array.from({ length: 3 }, () => Math.floor(random() * 1e6)),
        model: 'gpt-4o-mini',
        generated_at: 1_764_000_000 + i,
      });
      if (random() < 0.5) await write(['SET', `cache:answer:${i}`, value, 'EX', longTtl()]);
      else await write(['SET', `cache:answer:${i}`, value]);
    } else if (kind < 0.77) {
      const key = `session:${(i * 2654435761 >>> 0).toString(16)}${i}`;
      await write([
        'HSET', key,
        'user_id', Math.floor(random() * 50_000), 'created_at', 1_764_000_000 + i, 'last_seen', 1_764_000_000 + i + 600,
        'ip', `10.${i % 256}.${(i >> 8) % 256}.${(i >> 16) % 256}`, 'user_agent', 'Mozilla/5.0 (X11; Linux x86_64) Scholaria/2.4',
        'csrf', (random() * 1e16).toString(36) + (random() * 1e16).toString(36), 'locale', pick(['en', 'ko', 'de']),
        'data', JSON.stringify({ recent_topics: [i % 977, i % 1009], flash: phrase(4) }),
      ]);
      await write(['EXPIRE', key, longTtl()]);
    } else if (kind < 0.87) {
      const members: (string | number)[] = [];
      const n = 10 + Math.floor(random() * 20);
      for (let j = 0; j < n; j++) members.push(Math.floor(random() * 10_000), `chunk:${Math.floor(random() * 1e6)}`);
      await write(['ZADD', `rank:topic:${i}`, ...members]);
    } else if (kind < 0.95) {
      const items = Array.from({ length: 5 + Math.floor(random() * 15) }, (_, j) => JSON.stringify({ q: phrase(5), at: 1_764_000_000 + j }));
      await write(['RPUSH', `history:user:${i}`, ...items]);
    } else {
      const members = Array.from({ length: 5 + Math.floor(random() * 20) }, () => `user:${Math.floor(random() * 50_000)}`);
      await write(['SADD', `topic:${i}:members`, ...members]);
    }
  }
  child.stdin.end(buffer);
  const code = await exited;
  if (code !== 0 || !/errors: 0,/.test(output)) throw new Error(`redis-cli --pipe failed (exit ${code}): ${output.trim().slice(-400)}`);
}

function celeryMessage(n: number, random: () => number, phrase: (n: number) => string): string {
  return JSON.stringify({
    body: Buffer.from(JSON.stringify([[`ctx-${n}`], { force: false, reason: phrase(8) }, { callbacks: null, errbacks: null, chain: null, chord: null }])).toString('base64'),
    'content-encoding': 'utf-8',
    'content-type': 'application/json',
    headers: { lang: 'py', task: 'scholaria.tasks.embed_context', id: `task-${n}`, retries: 0, eta: null, root_id: `task-${n}`, argsrepr: `('ctx-${n}',)` },
    properties: { correlation_id: `task-${n}`, reply_to: `r-${Math.floor(random() * 1e9)}`, delivery_mode: 2, priority: 0, delivery_tag: `tag-${n}` },
  });
}

// ---------------------------------------------------------------------------------------------- helpers

function readMarker(path: string): DatasetMarker | undefined {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as DatasetMarker;
  } catch {
    return undefined;
  }
}

async function timed(work: () => Promise<void>): Promise<number> {
  const started = Date.now();
  await work();
  return (Date.now() - started) / 1000;
}

function sum(counts: Record<string, number>): number {
  return Object.values(counts).reduce((total, count) => total + count, 0);
}

function mb(bytes: number): string {
  return `${(bytes / 1e6).toFixed(0)} MB`;
}

