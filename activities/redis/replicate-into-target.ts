import { readFile, rm, writeFile } from 'node:fs/promises';
import { ReplyError, type Redis } from 'ioredis';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ChunkConsumer } from '../file-chunks';
import type { ProgressReporter } from '../heartbeat';
import { keyCountsPerDatabase } from './local-server';
import { RdbInspector } from './rdb';
import { serveRdb } from './rdb-source';

/** Replication cannot be used with this target; nothing was changed, so another method may be tried. */
export class ReplicationUnavailable extends Error {
  override name = 'ReplicationUnavailable';
}

export interface Replicated {
  /** Keys per database as the target held them once loaded, still a replica: every key of the file. */
  loadedCounts: Record<string, number>;
  /** Keys per database after the target became a master again and dropped the keys whose TTL had passed. */
  counts: Record<string, number>;
  /** Where the target replicated from, for the restore's details. */
  source: string;
}

const CONNECT_BACK_TIMEOUT_MS = 10_000;
const SCAN_BATCH = 1000;

/**
 * Makes the target load an RDB by full resynchronisation from the worker: `REPLICAOF <worker> <port>`,
 * the RDB served by `serveRdb`, then `REPLICAOF NO ONE`. The target replaces its whole dataset only
 * once the transfer is complete, and the transfer completes only if the RDB's header, end and CRC-64
 * check out as it streams. TTLs stay absolute times, and Redis functions come along too. Throws
 * ReplicationUnavailable, having changed nothing, when the target may not or cannot replicate from us:
 * a replica itself, REPLICAOF refused (ACL, managed services), TLS, or no connection back within 10 s.
 */
export async function replicateIntoTarget(
  target: Redis,
  read: (onChunk: ChunkConsumer) => Promise<void>,
  progress: Pick<ProgressReporter, 'signal' | 'phase' | 'bytes'>,
  options: { tls: boolean; marker: string },
): Promise<Replicated> {
  if (options.tls) throw new ReplicationUnavailable('the target is reached over TLS');
  await endLeftoverReplication(target, options.marker);
  const role = /^role:(\w+)/m.exec(await target.info('replication'))?.[1];
  if (role !== 'master') throw new ReplicationUnavailable(`the target is a ${role ?? 'server of unknown role'}, not a master`);
  const { ours, theirs } = await addressesOf(target);
  const inspector = new RdbInspector();
  const source = await serveRdb({
    host: ours,
    peer: theirs,
    stream: async (send) => {
      await read((chunk) => {
        inspector.inspect(chunk);
        return send(chunk);
      });
      inspector.finish();
    },
    beforeMark: () => inspector.result(),
    signal: progress.signal,
    onBytes: (bytes) => progress.bytes(bytes),
  }).catch((error: Error) => {
    throw new ReplicationUnavailable(error.message);
  });
  const where = `${ours}:${source.port}`;
  try {
    await writeFile(options.marker, JSON.stringify({ host: ours, port: source.port }));
    try {
      await target.call('REPLICAOF', ours, String(source.port));
    } catch (error) {
      await rm(options.marker, { force: true });
      throw new ReplicationUnavailable(`the target refused REPLICAOF: ${(error as Error).message}`);
    }
    let loadedCounts: Record<string, number>;
    try {
      const requested = await Promise.race([source.requested.then(() => true), sleep(CONNECT_BACK_TIMEOUT_MS, false, { signal: progress.signal })]);
      if (!requested) {
        const refused = source.refusedPeers.length > 0 ? `; refused connections from ${[...new Set(source.refusedPeers)].join(', ')}` : '';
        throw new ReplicationUnavailable(`the target did not connect back to ${where} within ${CONNECT_BACK_TIMEOUT_MS / 1000} s${refused}`);
      }
      progress.phase('target loading the RDB (replication)');
      await source.loaded;
      loadedCounts = await keyCountsPerDatabase(target);
    } finally {
      // A cancellation has already dropped the connection; the marker lets the rollback release the target.
      if (!progress.signal.aborted) {
        await target.call('REPLICAOF', 'NO', 'ONE');
        await rm(options.marker, { force: true });
      }
    }
    progress.phase('dropping keys whose TTL has passed');
    await dropExpiredKeys(target);
    return { loadedCounts, counts: await keyCountsPerDatabase(target), source: where };
  } finally {
    await source.close();
  }
}

/**
 * A worker that died while the target replicated from it leaves the target a read-only replica of an
 * address nobody listens on. The marker file, written before REPLICAOF and removed after REPLICAOF NO
 * ONE, says which address that was: a target replicating from exactly there is ours to release. Any
 * other master the target follows is left alone.
 */
async function endLeftoverReplication(target: Redis, marker: string): Promise<void> {
  const text = await readFile(marker, 'utf8').catch(() => undefined);
  if (text === undefined) return;
  const { host, port } = JSON.parse(text) as { host: string; port: number };
  const info = await target.info('replication');
  const following = /^master_host:(\S+)/m.exec(info)?.[1] === host && Number(/^master_port:(\d+)/m.exec(info)?.[1]) === port;
  if (/^role:slave/m.test(info) && following) await target.call('REPLICAOF', 'NO', 'ONE');
  await rm(marker, { force: true });
}

/**
 * The worker's address as the target sees it, to listen on, and the target's own, the only one let in.
 * Over a unix socket both are on this machine.
 */
async function addressesOf(target: Redis): Promise<{ ours: string; theirs: string }> {
  let info: string;
  try {
    info = String(await target.call('CLIENT', 'INFO'));
  } catch (error) {
    throw new ReplicationUnavailable(`CLIENT INFO is not available: ${(error as Error).message}`);
  }
  const field = (name: string) => new RegExp(`(?:^| )${name}=(\\S+)`).exec(info)?.[1];
  const hostOf = (address: string | undefined) => address?.replace(/:\d+$/, '').replace(/^\[(.*)\]$/, '$1');
  const ours = hostOf(field('addr'));
  const theirs = hostOf(field('laddr'));
  if (!ours || !theirs) throw new ReplicationUnavailable('CLIENT INFO does not show the connection\'s addresses');
  if (ours.startsWith('/')) return { ours: '127.0.0.1', theirs: '127.0.0.1' };
  return { ours, theirs };
}

/**
 * One SCAN step run by the server itself, which returns only the cursor: the keys never leave it. A
 * million keys sent to the worker cost it half a second of CPU and 20 MB of heap (issue 19).
 */
const SCAN_IN_THE_SERVER = "return redis.call('SCAN', ARGV[1], 'COUNT', ARGV[2])[1]";

/**
 * A master drops a key whose TTL has passed when SCAN reaches it, so counts afterwards are stable. The
 * scan runs in the server (a script); where scripts are refused (ACL, a managed service), the worker scans.
 */
async function dropExpiredKeys(target: Redis): Promise<void> {
  const keyspace = await target.info('keyspace');
  let inTheServer = true;
  const scanStep = async (cursor: string): Promise<string> => {
    if (inTheServer) {
      try {
        return String(await target.eval(SCAN_IN_THE_SERVER, 0, cursor, SCAN_BATCH));
      } catch (error) {
        if (!(error instanceof ReplyError)) throw error;
        inTheServer = false;
      }
    }
    const [next] = await target.scan(cursor, 'COUNT', SCAN_BATCH);
    return next;
  };
  for (const match of keyspace.matchAll(/^db(\d+):keys=\d+,expires=(\d+)/gm)) {
    if (Number(match[2]) === 0) continue;
    await target.select(Number(match[1]));
    let cursor = '0';
    do {
      cursor = await scanStep(cursor);
    } while (cursor !== '0');
  }
  await target.select(0);
}
