/** Seeded Scholaria stores for tests, with a password-protected backup login on PostgreSQL. */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from 'pg';
import { seedPostgres, seedRedis, type SeedScale } from '../../devstack/seed';
import { run, type Stores } from './stack';

export const TEST_SCALE: SeedScale = { users: 20, topicsPerUser: 3, contextsPerTopic: 4, chunksPerContext: 10, sessions: 200 };
export const BACKUP_PASSWORD = 'pg-Secret-7f3a9';

export async function createDatabase(stores: Stores, name: string): Promise<string> {
  const client = new Client({ connectionString: stores.postgres.url() });
  await client.connect();
  try {
    await client.query(`CREATE DATABASE ${name}`);
  } finally {
    await client.end();
  }
  return stores.postgres.url(name);
}

/** Creates and seeds the `scholaria` database and Redis. */
export async function seedStores(stores: Stores, scale: SeedScale = TEST_SCALE): Promise<void> {
  await seedPostgres(await createDatabase(stores, 'scholaria'), scale);
  await seedRedis(stores.redis.url, scale);
}

/**
 * A login that must authenticate with its password over TCP (scram), so the backup really uses the
 * secret it must never leak. Returns the URL with the password in it.
 */
export async function addPasswordLogin(stores: Stores): Promise<string> {
  const client = new Client({ connectionString: stores.postgres.url() });
  await client.connect();
  try {
    await client.query(`CREATE ROLE scholaria_backup LOGIN SUPERUSER PASSWORD '${BACKUP_PASSWORD}'`);
    const hba = join(stores.postgres.dataDir, 'pg_hba.conf');
    writeFileSync(hba, `host all scholaria_backup 127.0.0.1/32 scram-sha-256\n${readFileSync(hba, 'utf8')}`);
    await client.query('SELECT pg_reload_conf()');
  } finally {
    await client.end();
  }
  return `postgresql://scholaria_backup:${BACKUP_PASSWORD}@127.0.0.1:${stores.postgres.port}/scholaria`;
}

/** `sha256sum -c SHA256SUMS` inside the set folder, as the specification says a user checks a set. */
export function sha256sumCheck(setPath: string): string {
  return run('sha256sum', ['-c', 'SHA256SUMS'], { cwd: setPath });
}

/** A table of hard-to-compress text large enough that dumping it takes seconds, so a test can act mid-dump. */
export async function addBulkTable(url: string, megabytes: number): Promise<void> {
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    await client.query('CREATE TABLE bulk_chunks (id bigint PRIMARY KEY, body text NOT NULL)');
    await client.query(
      `INSERT INTO bulk_chunks
       SELECT i, (SELECT string_agg(md5((i * 64 + k)::text || 'salt'), '') FROM generate_series(1, 32) k)
         FROM generate_series(1, $1::int) i`,
      [megabytes * 1000],
    );
  } finally {
    await client.end();
  }
}

/** Terminates, whenever it appears, the backend of any pg_dump that is copying a table's data. */
export function keepCuttingDumps(url: string): { stop(): Promise<number> } {
  let running = true;
  let cuts = 0;
  const loop = (async () => {
    const client = new Client({ connectionString: url });
    await client.connect();
    try {
      while (running) {
        const { rows } = await client.query<{ done: boolean }>(
          `SELECT pg_terminate_backend(pid) AS done FROM pg_stat_activity
            WHERE application_name = 'pg_dump' AND query LIKE 'COPY%' AND pid <> pg_backend_pid()`,
        );
        cuts += rows.filter((row) => row.done).length;
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    } finally {
      await client.end();
    }
  })();
  return {
    stop: async () => {
      running = false;
      await loop;
      return cuts;
    },
  };
}
