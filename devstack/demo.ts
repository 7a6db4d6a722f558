/**
 * `npm run demo`: the whole job on the embedded default. Starts (or reuses) the local stack, seeds
 * Scholaria-shaped data, runs a worker, takes a backup through Temporal with the real CLI, verifies
 * it, and says where everything is. Exits non-zero if any of it did not hold.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { Client } from 'pg';
import { loadConfig } from '../core/config';
import { createWorker } from '../worker/worker';
import { ensurePostgres, ensureRedis, ensureTemporal, STACK_DIR } from './local-stack';
import { startQdrantStandIn } from '../test/support/qdrant-standin';
import { DEMO_SCALE, seedPostgres, seedQdrant, seedRedis } from './seed';
import { PROJECT_ROOT } from './tools';

const step = (text: string) => process.stdout.write(`\n▶ ${text}\n`);

async function main(): Promise<number> {
  step(`Starting the local stack (Temporal dev server with Web UI, PostgreSQL, Redis, Qdrant stand-in) in ${STACK_DIR}`);
  const temporal = await ensureTemporal();
  const adminUrl = await ensurePostgres();
  const redisUrl = await ensureRedis();
  const databaseUrl = adminUrl.replace(/\/postgres$/, '/scholaria');
  // No Qdrant server can be installed here: the demo uses the test stand-in, and says so.
  const qdrant = await startQdrantStandIn({ dataDir: join(STACK_DIR, 'qdrant-standin') });
  process.stdout.write(
    `  Temporal ${temporal.address} (${temporal.reused ? 'already running' : 'started'}), Web UI ${temporal.uiUrl}\n` +
      `  PostgreSQL ${databaseUrl}\n  Redis ${redisUrl}\n` +
      `  Qdrant STAND-IN ${qdrant.url} (test/support/qdrant-standin: imitates Qdrant's REST API for tests; not a real Qdrant)\n`,
  );

  step(`Seeding Scholaria-shaped sample data`);
  await resetDatabase(adminUrl);
  await seedPostgres(databaseUrl, DEMO_SCALE);
  const redis = new Redis(redisUrl, { lazyConnect: true });
  await redis.connect();
  await redis.flushall();
  redis.disconnect();
  await seedRedis(redisUrl, DEMO_SCALE);
  await resetQdrant(qdrant.url);
  await seedQdrant(qdrant.url, DEMO_SCALE);
  process.stdout.write(
    `  PostgreSQL: ${DEMO_SCALE.users} users, topics, contexts, ${DEMO_SCALE.users * DEMO_SCALE.topicsPerUser * DEMO_SCALE.contextsPerTopic * DEMO_SCALE.chunksPerContext} chunks\n` +
      `  Redis: ${DEMO_SCALE.sessions} sessions with TTLs, caches (db0), a Celery queue (db1), rate limits (db2)\n` +
      `  Qdrant stand-in: collections scholaria_chunks and scholaria_documents (named vectors), alias chunks_current\n`,
  );

  const env: Record<string, string> = {
    ...(process.env as Record<string, string>),
    BACKUP_DIR: join(STACK_DIR, 'backups'),
    LOG_DIR: join(STACK_DIR, 'logs'),
    LOG_LEVEL: 'warn',
    TEMPORAL_ADDRESS: temporal.address,
    TEMPORAL_UI_URL: temporal.uiUrl,
    TEMPORAL_TASK_QUEUE: 'scholaria-backup',
    POSTGRES_URL: databaseUrl,
    REDIS_URL: redisUrl,
    QDRANT_URL: qdrant.url,
    BACKUP_COMPONENTS: 'postgres,redis,qdrant',
  };
  step('Starting a worker on task queue scholaria-backup');
  const { worker, connection } = await createWorker(loadConfig(env));
  const running = worker.run();
  try {
    step('scholaria-backup backup --tier manual');
    const backup = await cli(['backup', '--tier', 'manual'], env);
    step('scholaria-backup verify latest');
    const verify = backup === 0 ? await cli(['verify', 'latest'], env) : 1;
    step('scholaria-backup list');
    await cli(['list'], env);
    const ok = backup === 0 && verify === 0;
    process.stdout.write(
      `\n${ok ? '✔ Demo complete: the backup set is complete and verified.' : '✖ Demo failed: see the messages above.'}\n` +
        `  Backups: ${env.BACKUP_DIR}\n  Logs:    ${env.LOG_DIR}\n  Web UI:  ${temporal.uiUrl} (the runs above are there)\n` +
        `  Qdrant in this demo is the stand-in from test/support, not a real Qdrant server.\n` +
        `  The stack keeps running for the Web UI (the Qdrant stand-in stops with the demo); stop it with \`npm run stop\`.\n`,
    );
    return ok ? 0 : 1;
  } finally {
    worker.shutdown();
    await running;
    await connection.close();
    await qdrant.stop();
  }
}

async function resetQdrant(url: string): Promise<void> {
  const listed = (await (await fetch(`${url}/collections`)).json()) as { result: { collections: { name: string }[] } };
  for (const { name } of listed.result.collections) await fetch(`${url}/collections/${name}`, { method: 'DELETE' });
}

async function resetDatabase(adminUrl: string): Promise<void> {
  const client = new Client({ connectionString: adminUrl });
  await client.connect();
  try {
    await client.query('DROP DATABASE IF EXISTS scholaria WITH (FORCE)');
    await client.query('CREATE DATABASE scholaria');
  } finally {
    await client.end();
  }
}

function cli(args: string[], env: Record<string, string>): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(PROJECT_ROOT, 'bin', 'scholaria-backup.js'), ...args], { env, stdio: 'inherit' });
    child.once('error', reject);
    child.once('close', (code) => resolve(code ?? 1));
  });
}

main().then(
  (code) => process.exit(code),
  (error: Error) => {
    process.stderr.write(`demo: ${error.message}\n(whatever of the stack was started keeps running; \`npm run stop\` stops it)\n`);
    process.exit(1);
  },
);
