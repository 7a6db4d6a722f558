/**
 * Scholaria-shaped sample data: users, topics, contexts and chunks in PostgreSQL (with the objects a
 * restore must bring back: sequences, a view, a function, a trigger, a role); sessions with TTLs,
 * caches and a Celery-like queue across several Redis databases.
 */
import { Redis } from 'ioredis';
import { Client } from 'pg';

export interface SeedScale {
  users: number;
  topicsPerUser: number;
  contextsPerTopic: number;
  chunksPerContext: number;
  /** Redis sessions; caches and queue entries follow from it. */
  sessions: number;
}

export const DEMO_SCALE: SeedScale = { users: 50, topicsPerUser: 4, contextsPerTopic: 5, chunksPerContext: 20, sessions: 500 };

const SCHEMA = `
CREATE TABLE users (
  id bigserial PRIMARY KEY,
  email text NOT NULL UNIQUE,
  display_name text NOT NULL,
  is_admin boolean NOT NULL DEFAULT false,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE topics (
  id bigserial PRIMARY KEY,
  owner_id bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  title text NOT NULL,
  description text,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE contexts (
  id bigserial PRIMARY KEY,
  topic_id bigint NOT NULL REFERENCES topics(id) ON DELETE CASCADE,
  name text NOT NULL,
  source_type text NOT NULL CHECK (source_type IN ('pdf', 'markdown', 'faq', 'web')),
  metadata jsonb NOT NULL DEFAULT '{}',
  chunk_count integer NOT NULL DEFAULT 0,
  updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE chunks (
  id bigserial PRIMARY KEY,
  context_id bigint NOT NULL REFERENCES contexts(id) ON DELETE CASCADE,
  chunk_index integer NOT NULL,
  content text NOT NULL,
  metadata jsonb NOT NULL DEFAULT '{}',
  embedded_at timestamptz,
  UNIQUE (context_id, chunk_index)
);
CREATE INDEX chunks_metadata_idx ON chunks USING gin (metadata jsonb_path_ops);
CREATE TABLE admin_settings (key text PRIMARY KEY, value jsonb NOT NULL);

CREATE FUNCTION touch_updated_at() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  NEW.updated_at := now();
  RETURN NEW;
END $$;
CREATE TRIGGER contexts_touch BEFORE UPDATE ON contexts FOR EACH ROW EXECUTE FUNCTION touch_updated_at();

CREATE VIEW topic_stats AS
  SELECT t.id AS topic_id, t.title, count(DISTINCT c.id) AS contexts, count(k.id) AS chunks
    FROM topics t LEFT JOIN contexts c ON c.topic_id = t.id LEFT JOIN chunks k ON k.context_id = c.id
   GROUP BY t.id, t.title;
`;

/** Creates the schema and data in an empty database. Content is deterministic for a given scale. */
export async function seedPostgres(url: string, scale: SeedScale): Promise<void> {
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(SCHEMA);
    await client.query(
      `DO $$ BEGIN
         IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'scholaria_reader') THEN CREATE ROLE scholaria_reader NOLOGIN; END IF;
       END $$`,
    );
    await client.query('GRANT SELECT ON ALL TABLES IN SCHEMA public TO scholaria_reader');
    await client.query(
      `INSERT INTO users (email, display_name, is_admin, created_at)
       SELECT 'user' || i || '@scholaria.example', 'User ' || i, i = 1, timestamptz '2026-01-01' + i * interval '1 hour'
         FROM generate_series(1, $1::int) i`,
      [scale.users],
    );
    await client.query(
      `INSERT INTO topics (owner_id, title, description)
       SELECT u.id, 'Topic ' || u.id || '-' || n, 'Notes about subject ' || n || ' by ' || u.display_name
         FROM users u, generate_series(1, $1::int) n`,
      [scale.topicsPerUser],
    );
    await client.query(
      `INSERT INTO contexts (topic_id, name, source_type, metadata)
       SELECT t.id, 'Context ' || t.id || '.' || n, (ARRAY['pdf','markdown','faq','web'])[1 + (t.id + n) % 4],
              jsonb_build_object('pages', n * 3, 'language', CASE WHEN n % 2 = 0 THEN 'ko' ELSE 'en' END)
         FROM topics t, generate_series(1, $1::int) n`,
      [scale.contextsPerTopic],
    );
    // About 1 KB of text per chunk, varied enough that compression works as on real prose.
    await client.query(
      `INSERT INTO chunks (context_id, chunk_index, content, metadata, embedded_at)
       SELECT c.id, n,
              'Chunk ' || n || E' of context ' || c.id || E'.\\n' ||
              (SELECT string_agg(md5((c.id * 1000 + n * 31 + k)::text), ' ') FROM generate_series(1, 30) k),
              jsonb_build_object('page', n, 'tokens', 200 + n % 50, 'tags', jsonb_build_array('t' || n % 7, 't' || c.id % 5)),
              CASE WHEN n % 10 = 0 THEN NULL ELSE timestamptz '2026-02-01' + n * interval '1 minute' END
         FROM contexts c, generate_series(1, $1::int) n`,
      [scale.chunksPerContext],
    );
    await client.query('UPDATE contexts SET chunk_count = (SELECT count(*) FROM chunks WHERE context_id = contexts.id)');
    await client.query(
      `INSERT INTO admin_settings VALUES
         ('embedding_model', '"text-embedding-3-small"'), ('max_upload_mb', '50'), ('maintenance', '{"enabled": false}')`,
    );
    await client.query('ANALYZE');
  } finally {
    await client.end();
  }
}

/** Sessions with TTLs and caches in db0, a Celery-like queue in db1, rate limits in db2. */
export async function seedRedis(url: string, scale: Pick<SeedScale, 'sessions'>): Promise<void> {
  const redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1 });
  await redis.connect();
  try {
    const db0 = redis.pipeline().select(0);
    for (let i = 0; i < scale.sessions; i += 1) {
      const key = `session:${String(i).padStart(6, '0')}`;
      db0.hset(key, { user_id: String(1 + (i % 50)), csrf: `csrf-${i}`, locale: i % 2 ? 'ko' : 'en' });
      db0.expire(key, 3600 + i);
      db0.set(`cache:api:topics:${i}`, JSON.stringify({ page: i, items: [i, i + 1, i + 2] }));
      if (i % 3 === 0) db0.pexpire(`cache:api:topics:${i}`, 7_200_000 + i);
    }
    db0.set('cache:settings', JSON.stringify({ embedding_model: 'text-embedding-3-small' }));
    await db0.exec();

    const db1 = redis.pipeline().select(1);
    for (let i = 0; i < Math.max(10, scale.sessions / 10); i += 1) {
      db1.rpush('celery', JSON.stringify({ id: `task-${i}`, task: 'scholaria.tasks.embed_context', args: [i] }));
    }
    db1.sadd('_kombu.binding.celery', 'celery\x06\x16\x06\x16celery');
    db1.hset('celery-task-meta-1', { status: 'SUCCESS', result: '42' });
    db1.set('unacked_mutex', '1', 'PX', 30_000);
    await db1.exec();

    const db2 = redis.pipeline().select(2);
    for (let i = 0; i < 50; i += 1) db2.zadd('ratelimit:uploads', Date.UTC(2026, 0, 1) + i * 1000, `user:${i}`);
    db2.set('feature:search-v2', 'on');
    await db2.exec();
  } finally {
    redis.disconnect();
  }
}

/** Vectors of chunks and documents in Qdrant: one collection with a single vector, one with named vectors, and an alias. */
export async function seedQdrant(url: string, scale: Pick<SeedScale, 'sessions'>, apiKey?: string): Promise<void> {
  const call = async (method: string, path: string, body?: unknown) => {
    const response = await fetch(`${url}${path}`, {
      method,
      headers: { 'content-type': 'application/json', ...(apiKey ? { 'api-key': apiKey } : {}) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (!response.ok) throw new Error(`Qdrant ${method} ${path}: HTTP ${response.status} ${await response.text()}`);
  };
  const vector = (seed: number, size: number) => Array.from({ length: size }, (_, i) => Math.sin(seed * 7.1 + i * 1.3));
  const points = Math.max(20, Math.floor(scale.sessions / 2));
  await call('PUT', '/collections/scholaria_chunks', { vectors: { size: 16, distance: 'Cosine' } });
  await call('PUT', '/collections/scholaria_chunks/points?wait=true', {
    points: Array.from({ length: points }, (_, i) => ({
      id: i + 1,
      vector: vector(i, 16),
      payload: { context_id: 1 + (i % 40), chunk_index: i, language: i % 2 ? 'ko' : 'en' },
    })),
  });
  await call('PUT', '/collections/scholaria_documents', {
    vectors: { title: { size: 8, distance: 'Dot' }, body: { size: 12, distance: 'Euclid' } },
  });
  await call('PUT', '/collections/scholaria_documents/points?wait=true', {
    points: Array.from({ length: Math.ceil(points / 4) }, (_, i) => ({
      id: `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`,
      vector: { title: vector(i + 1000, 8), body: vector(i + 2000, 12) },
      payload: { topic_id: 1 + (i % 10), title: `Document ${i}` },
    })),
  });
  await call('POST', '/collections/aliases', { actions: [{ create_alias: { collection_name: 'scholaria_chunks', alias_name: 'chunks_current' } }] });
}
