/**
 * What a restore can leave behind in BACKUP_DIR/.safety/ when it does not end cleanly: safety
 * snapshots kept after a rollback (or with --keep-safety), and the marker of a Redis replication
 * restore whose worker died while the target replicated from it, which leaves the target a read-only
 * replica until a worker resumes the restore. `status` lists both; `health-check` fails on the second.
 */
import { readFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { join } from 'node:path';
import { listSafetySnapshots, type KeptSafetySnapshot } from '../activities/repository/safety-snapshots';
import { SAFETY_FOLDER } from '../activities/repository/sets';
import { REPLICATION_MARKER } from '../activities/redis/replication-marker';

export interface LeftReplicating {
  restoreId: string;
  marker: string;
  /** The worker's replication source the target was told to follow. */
  source: string;
  /** Whether anything still listens there (a live worker serving the RDB). */
  sourceAlive: boolean;
}

function listening(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port, timeout: 1000 });
    const done = (alive: boolean) => {
      socket.destroy();
      resolve(alive);
    };
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
    socket.once('timeout', () => done(false));
  });
}

export async function leftReplicating(backupDir: string, snapshots?: KeptSafetySnapshot[]): Promise<LeftReplicating[]> {
  const found: LeftReplicating[] = [];
  for (const snapshot of snapshots ?? (await listSafetySnapshots(backupDir))) {
    const marker = join(backupDir, SAFETY_FOLDER, snapshot.restoreId, 'redis', REPLICATION_MARKER);
    const text = await readFile(marker, 'utf8').catch(() => undefined);
    if (text === undefined) continue;
    const { host, port } = JSON.parse(text) as { host: string; port: number };
    found.push({ restoreId: snapshot.restoreId, marker, source: `${host}:${port}`, sourceAlive: await listening(host, port) });
  }
  return found;
}

/** One line saying how to release the target. */
export function howToRelease(left: LeftReplicating): string {
  return `if no restore is running (\`scholaria-backup status\`), make the Redis target a master again with \`redis-cli -u "$REDIS_URL" REPLICAOF NO ONE\` and delete ${left.marker}; the next Redis restore releases it too`;
}

export function describeLeftReplicating(left: LeftReplicating): string {
  return `restore ${left.restoreId} left the Redis target replicating from ${left.source}${left.sourceAlive ? ' (still served: a worker is on it)' : ', where nothing listens any more: the target stays a read-only replica'}`;
}
