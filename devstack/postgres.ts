/**
 * Private PostgreSQL clusters in a folder of our own, on a port of our own, from the machine's
 * binaries: the machine's own server (if any) is never used or touched. initdb refuses to run as
 * root, so as root the cluster belongs to the `postgres` system user.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, chownSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir, userInfo } from 'node:os';
import { Client } from 'pg';
import { freePort, waitFor } from './ports';
import { postgresServerBin } from './tools';

export interface LocalPostgres {
  port: number;
  dataDir: string;
  /** Superuser URL (trust authentication on loopback). */
  url(database?: string): string;
  stop(): Promise<void>;
}

interface Owner {
  uid: number;
  gid: number;
  name: string;
}

function clusterOwner(): Owner {
  const me = userInfo();
  if (me.uid !== 0) return { uid: me.uid, gid: me.gid, name: me.username };
  const uid = Number(execFileSync('id', ['-u', 'postgres']).toString().trim());
  const gid = Number(execFileSync('id', ['-g', 'postgres']).toString().trim());
  return { uid, gid, name: 'postgres' };
}

function runAs(owner: Owner, command: string, args: string[]): void {
  try {
    execFileSync(command, args, { uid: owner.uid, gid: owner.gid, stdio: ['ignore', 'pipe', 'pipe'], cwd: '/tmp' });
  } catch (error) {
    const stderr = String((error as { stderr?: Buffer }).stderr ?? '').trim();
    throw new Error(`${command.split('/').pop()} failed: ${stderr || (error as Error).message}`);
  }
}

/**
 * Where a cluster meant for `preferred` can live: there, when the cluster's owner can reach it; as root
 * inside a folder others cannot enter (a clone in a `mktemp -d` folder, say), the `postgres` user cannot,
 * so the cluster goes to a folder of its own under the system's temporary directory instead.
 */
export function clusterDirectoryFor(preferred: string): string {
  const owner = clusterOwner();
  mkdirSync(preferred, { recursive: true });
  const reachable = spawnSync('test', ['-x', preferred], { uid: owner.uid, gid: owner.gid }).status === 0;
  if (reachable) return preferred;
  const fallback = join(tmpdir(), `scholaria-postgres-${createHash('sha256').update(preferred).digest('hex').slice(0, 12)}`);
  mkdirSync(fallback, { recursive: true, mode: 0o755 });
  chmodSync(fallback, 0o755);
  return fallback;
}

/** Starts (creating when new) a cluster in `dir`; an existing cluster there is reused with its data. */
export async function startLocalPostgres(options: { dir: string; port?: number }): Promise<LocalPostgres> {
  const bin = postgresServerBin();
  const owner = clusterOwner();
  const dataDir = join(options.dir, 'data');
  const socketDir = join(options.dir, 'socket');
  mkdirSync(socketDir, { recursive: true });
  chownSync(options.dir, owner.uid, owner.gid);
  chownSync(socketDir, owner.uid, owner.gid);
  if (!existsSync(join(dataDir, 'PG_VERSION'))) {
    runAs(owner, join(bin, 'initdb'), ['-D', dataDir, '-U', 'postgres', '-A', 'trust', '-E', 'UTF8', '--locale=C.UTF-8', '--no-sync']);
  }
  const port = options.port ?? (await freePort());
  const conf = [
    `port = ${port}`,
    `listen_addresses = '127.0.0.1'`,
    `unix_socket_directories = '${socketDir}'`,
    'fsync = off',
    'synchronous_commit = off',
    'full_page_writes = off',
    'shared_buffers = 128MB',
    'max_wal_size = 2GB',
  ].join('\n');
  writeFileSync(join(dataDir, 'postgresql.auto.conf'), `${conf}\n`);
  chownSync(join(dataDir, 'postgresql.auto.conf'), owner.uid, owner.gid);
  runAs(owner, join(bin, 'pg_ctl'), ['-D', dataDir, '-l', join(options.dir, 'postgres.log'), '-w', '-t', '60', 'start']);
  const url = (database = 'postgres') => `postgresql://postgres@127.0.0.1:${port}/${database}`;
  await waitFor(`PostgreSQL on port ${port}`, async () => {
    const client = new Client({ connectionString: url() });
    await client.connect();
    await client.end();
    return true;
  }, 30_000);
  return { port, dataDir, url, stop: async () => void stopLocalPostgres(options.dir, 'immediate') };
}

/** Stops the cluster in `dir` if it runs; `fast` lets it write a checkpoint, `immediate` does not wait. */
export function stopLocalPostgres(dir: string, mode: 'fast' | 'immediate' = 'fast'): boolean {
  const dataDir = join(dir, 'data');
  if (!existsSync(join(dataDir, 'postmaster.pid'))) return false;
  try {
    runAs(clusterOwner(), join(postgresServerBin(), 'pg_ctl'), ['-D', dataDir, '-m', mode, '-w', 'stop']);
    return true;
  } catch {
    return false;
  }
}
