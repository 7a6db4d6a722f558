/**
 * In transit: one backup and one restore with the stores reached over TLS, on real servers with a
 * self-signed certificate made here by openssl. Redis: Debian's redis-server (built with TLS) on a
 * `--tls-port`, reached by `rediss://`, the worker trusting the certificate through
 * NODE_EXTRA_CA_CERTS (so the worker runs as its own process, as in production). PostgreSQL: a private
 * cluster with ssl=on, reached with `sslmode=require`.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { chownSync, chmodSync, copyFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { Client } from 'pg';
import { Redis } from 'ioredis';
import { startLocalRedis, type LocalRedis } from '../activities/redis/local-server';
import { startLocalPostgres, type LocalPostgres } from '../devstack/postgres';
import { freePort } from '../devstack/ports';
import { redisDifferences, redisFingerprint } from './support/fingerprints';
import { CLI, runCli, scratchDir, temporalAddress } from './support/stack';

let dir: string;
let cert: string;
let key: string;
const servers: { redis: { source?: LocalRedis; target?: LocalRedis; sourceTls: number; targetTls: number }; postgres?: LocalPostgres } = { redis: { sourceTls: 0, targetTls: 0 } };

function baseEnv(queue: string): Record<string, string> {
  return {
    PATH: process.env.PATH!,
    HOME: process.env.HOME!,
    BACKUP_DIR: join(dir, 'backup'),
    LOG_DIR: join(dir, 'logs'),
    LOG_LEVEL: 'warn',
    BACKUP_APPLY_SCHEDULES: 'false',
    TEMPORAL_ADDRESS: temporalAddress(),
    TEMPORAL_TASK_QUEUE: `tls-${queue}-${process.pid}`,
    NODE_EXTRA_CA_CERTS: cert,
    ...(process.env.BACKUP_WORKFLOW_BUNDLE ? { BACKUP_WORKFLOW_BUNDLE: process.env.BACKUP_WORKFLOW_BUNDLE } : {}),
  };
}

/** `scholaria-backup worker` as its own process with `env`; stopped (SIGTERM, waited for) by the returned function. */
function startWorkerProcess(env: Record<string, string>): () => Promise<void> {
  const child: ChildProcess = spawn(process.execPath, [CLI, 'worker'], { env, stdio: ['ignore', 'ignore', 'inherit'] });
  return async () => {
    if (child.exitCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    await exited;
  };
}

async function withWorker<T>(env: Record<string, string>, work: () => Promise<T>): Promise<T> {
  const stop = startWorkerProcess(env);
  try {
    return await work();
  } finally {
    await stop();
  }
}

async function tlsRedis(name: string): Promise<{ server: LocalRedis; tlsPort: number }> {
  const tlsPort = await freePort();
  const server = await startLocalRedis({
    dir: join(dir, name),
    port: await freePort(),
    extraArgs: ['--repl-diskless-sync-delay', '0', '--tls-port', String(tlsPort), '--tls-cert-file', cert, '--tls-key-file', key, '--tls-ca-cert-file', cert, '--tls-auth-clients', 'no'],
  });
  return { server, tlsPort };
}

before(async () => {
  dir = scratchDir('tls');
  cert = join(dir, 'server.crt');
  key = join(dir, 'server.key');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1'], { stdio: 'ignore' });
  chmodSync(key, 0o644); // readable by the PostgreSQL cluster's user for its own copy below
  const source = await tlsRedis('redis-source');
  const target = await tlsRedis('redis-target');
  servers.redis = { source: source.server, target: target.server, sourceTls: source.tlsPort, targetTls: target.tlsPort };
  const redis = new Redis(source.server.url);
  await redis.mset({ 'session:1': 'alpha', 'session:2': 'beta' });
  await redis.set('cache:ttl', 'gamma', 'EX', 3600);
  redis.disconnect();
});

after(async () => {
  await servers.redis.source?.stop();
  await servers.redis.target?.stop();
  await servers.postgres?.stop();
});

test('Redis over TLS (rediss://, a self-signed certificate): backup, then restore into another TLS-only target', async () => {
  const sourceUrl = `rediss://localhost:${servers.redis.sourceTls}`;
  const targetUrl = `rediss://localhost:${servers.redis.targetTls}`;
  const backupEnv = { ...baseEnv('redis-backup'), REDIS_URL: sourceUrl, BACKUP_COMPONENTS: 'redis' };
  const backedUp = await withWorker(backupEnv, () => runCli(['backup', '--tier', 'daily'], backupEnv));
  assert.equal(backedUp.code, 0, backedUp.stdout + backedUp.stderr);
  const set = /scholaria_backup_\d{8}_\d{6}/.exec(backedUp.stdout)?.[0];
  assert.ok(set, backedUp.stdout);

  const restoreEnv = { ...baseEnv('redis-restore'), REDIS_URL: targetUrl, BACKUP_COMPONENTS: 'redis' };
  const restored = await withWorker(restoreEnv, () => runCli(['restore', set, '--component', 'redis', '--yes'], restoreEnv));
  assert.equal(restored.code, 0, restored.stdout + restored.stderr);
  assert.deepEqual(redisDifferences(await redisFingerprint(servers.redis.source!.url), await redisFingerprint(servers.redis.target!.url), 30), []);
});

test('PostgreSQL with ssl=on and sslmode=require (a self-signed certificate): backup, then restore', async () => {
  const postgres = await startLocalPostgres({ dir: join(dir, 'postgres') });
  servers.postgres = postgres;
  const owner = statSync(postgres.dataDir);
  for (const [from, to] of [[cert, 'server.crt'], [key, 'server.key']] as const) {
    copyFileSync(from, join(postgres.dataDir, to));
    chownSync(join(postgres.dataDir, to), owner.uid, owner.gid);
    chmodSync(join(postgres.dataDir, to), 0o600);
  }
  const admin = new Client({ connectionString: postgres.url() });
  await admin.connect();
  await admin.query('ALTER SYSTEM SET ssl = on');
  await admin.query('SELECT pg_reload_conf()');
  // pg_reload_conf() only signals the postmaster: this session sees ssl = on once the reload has reached it.
  let ssl = '';
  for (const started = Date.now(); ssl !== 'on' && Date.now() - started < 5000; ) {
    ssl = (await admin.query<{ ssl: string }>('SHOW ssl')).rows[0]!.ssl;
    if (ssl !== 'on') await new Promise((resolve) => setTimeout(resolve, 100));
  }
  assert.equal(ssl, 'on');
  await admin.query('CREATE DATABASE scholaria');
  await admin.end();
  const app = new Client({ connectionString: postgres.url('scholaria') });
  await app.connect();
  await app.query("CREATE TABLE topics (id int PRIMARY KEY, title text); INSERT INTO topics SELECT g, 'topic ' || g FROM generate_series(1, 50) g");
  await app.end();

  const url = `${postgres.url('scholaria')}?sslmode=require`;
  const env = { ...baseEnv('postgres'), POSTGRES_URL: url, BACKUP_COMPONENTS: 'postgres' };
  await withWorker(env, async () => {
    const backedUp = await runCli(['backup', '--tier', 'daily'], env);
    assert.equal(backedUp.code, 0, backedUp.stdout + backedUp.stderr);
    const set = /scholaria_backup_\d{8}_\d{6}/.exec(backedUp.stdout)?.[0];
    assert.ok(set, backedUp.stdout);
    const changed = new Client({ connectionString: postgres.url('scholaria') });
    await changed.connect();
    await changed.query('DELETE FROM topics WHERE id > 10');
    await changed.end();
    const restored = await runCli(['restore', set, '--component', 'postgres', '--yes', '--force'], env);
    assert.equal(restored.code, 0, restored.stdout + restored.stderr);
  });
  const check = new Client({ connectionString: postgres.url('scholaria') });
  await check.connect();
  const { rows } = await check.query<{ count: string }>('SELECT count(*) FROM topics');
  await check.end();
  assert.equal(rows[0]!.count, '50');
});
