/**
 * The stand-in's collection snapshots, shaped like Qdrant's: an uncompressed GNU tar (Qdrant's Rust
 * `tar` crate writes GNU headers with `sparse(true)`), holding `version.info` with the version of
 * Qdrant's `collection` crate (0.4.2 in 1.13 to 1.19, `lib/collection/src/collection/snapshots.rs`),
 * `config.json`, `payload_index.json`, and one folder per shard like Qdrant's own shard fixture
 * (`lib/storage/src/content_manager/snapshots/test-shard.snapshot`): `shard_config.json`,
 * `replica_state.json`, `newest_clocks.json` and `wal/closed-<n>`, a sparse 1 MiB (or larger) file.
 *
 * The stand-in's point data lives in that WAL file, one JSON line per point, each in its own data
 * region 64 KiB apart: a shard of 8 points is a sparse member with 8 regions (past the 4 that fit in
 * a GNU header), so a reader that mishandles sparse members loses points, not only its place.
 * Archives are written and read by GNU tar (`--format=gnu --sparse`), which tar-stream cannot do:
 * it neither writes nor reads sparse members.
 */
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
export const COLLECTION_FORMAT_VERSION = '0.4.2';
const WAL_SEGMENT_BYTES = 1 << 20;
const WAL_RECORD_STRIDE = 64 * 1024;

export interface ShardContents {
  /** One JSON line per point (the stand-in's own record format). */
  records: string[];
  peerId: string;
}

export interface SnapshotContents {
  versionInfo: string;
  config: unknown;
  payloadSchema: unknown;
  shards: ShardContents[];
}

/** Writes the shard folder `dir` as Qdrant lays one out in a snapshot. */
function writeShard(dir: string, shard: ShardContents): void {
  fs.mkdirSync(path.join(dir, 'wal'), { recursive: true });
  fs.mkdirSync(path.join(dir, 'segments'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'shard_config.json'), JSON.stringify({ type: 'Local' }));
  fs.writeFileSync(path.join(dir, 'replica_state.json'), JSON.stringify({ is_local: true, this_peer_id: Number(shard.peerId), peers: { [shard.peerId]: 'Active' } }));
  fs.writeFileSync(path.join(dir, 'newest_clocks.json'), JSON.stringify({ clocks: [] }));
  const wal = path.join(dir, 'wal', `closed-${255 + shard.records.length}`);
  const fd = fs.openSync(wal, 'w');
  try {
    fs.ftruncateSync(fd, Math.max(WAL_SEGMENT_BYTES, (shard.records.length + 1) * WAL_RECORD_STRIDE));
    shard.records.forEach((record, i) => {
      const line = Buffer.from(`${record}\n`);
      if (line.length >= WAL_RECORD_STRIDE) throw new Error('stand-in: a point record is larger than its WAL slot');
      fs.writeSync(fd, line, 0, line.length, (i + 1) * WAL_RECORD_STRIDE);
    });
  } finally {
    fs.closeSync(fd);
  }
}

/** Writes the snapshot as a GNU tar with sparse members into `file`, staging its tree in `workDir`. */
export async function writeSnapshot(file: string, workDir: string, contents: SnapshotContents): Promise<void> {
  fs.rmSync(workDir, { recursive: true, force: true });
  fs.mkdirSync(workDir, { recursive: true });
  try {
    fs.writeFileSync(path.join(workDir, 'version.info'), contents.versionInfo);
    fs.writeFileSync(path.join(workDir, 'config.json'), JSON.stringify(contents.config));
    fs.writeFileSync(path.join(workDir, 'payload_index.json'), JSON.stringify({ schema: contents.payloadSchema }));
    contents.shards.forEach((shard, i) => writeShard(path.join(workDir, String(i)), shard));
    const members = ['version.info', 'config.json', 'payload_index.json', ...contents.shards.map((_, i) => String(i))];
    await run('tar', ['--format=gnu', '--sparse', '-cf', file, '-C', workDir, ...members]);
  } finally {
    fs.rmSync(workDir, { recursive: true, force: true });
  }
}

export class SnapshotFormatError extends Error {}

/** Unpacks a snapshot with GNU tar (a truncated or garbled archive fails) and reads it back. */
export async function readSnapshot(file: string, workDir: string): Promise<SnapshotContents> {
  fs.rmSync(workDir, { recursive: true, force: true });
  fs.mkdirSync(workDir, { recursive: true });
  try {
    try {
      await run('tar', ['-xf', file, '-C', workDir]);
    } catch (error) {
      const stderr = String((error as { stderr?: unknown }).stderr ?? '').trim().split('\n')[0];
      throw new SnapshotFormatError(`not a valid tar archive: ${stderr}`);
    }
    const text = (name: string): string => {
      const at = path.join(workDir, name);
      if (!fs.existsSync(at)) throw new SnapshotFormatError(`archive has no ${name}`);
      return fs.readFileSync(at, 'utf8');
    };
    const json = (name: string): unknown => {
      try {
        return JSON.parse(text(name));
      } catch (error) {
        if (error instanceof SnapshotFormatError) throw error;
        throw new SnapshotFormatError(`${name}: ${(error as Error).message}`);
      }
    };
    const payloadIndex = json('payload_index.json');
    const shards: ShardContents[] = [];
    for (let i = 0; fs.existsSync(path.join(workDir, String(i))); i++) {
      text(`${i}/shard_config.json`);
      const replica = json(`${i}/replica_state.json`) as { this_peer_id?: unknown };
      const walDir = path.join(workDir, String(i), 'wal');
      const segments = fs.existsSync(walDir) ? fs.readdirSync(walDir).filter((f) => f.startsWith('closed-')) : [];
      if (segments.length !== 1) throw new SnapshotFormatError(`shard ${i} has ${segments.length} closed WAL segments, the stand-in writes one`);
      const records = fs
        .readFileSync(path.join(walDir, segments[0]!), 'latin1')
        .split(/[\0\n]+/)
        .filter((line) => line.length > 0)
        .map((line) => Buffer.from(line, 'latin1').toString('utf8'));
      shards.push({ records, peerId: String(replica.this_peer_id ?? '') });
    }
    if (shards.length === 0) throw new SnapshotFormatError('archive has no shard folder 0/');
    return {
      versionInfo: text('version.info').trim(),
      config: json('config.json'),
      payloadSchema: (payloadIndex as { schema?: unknown }).schema ?? {},
      shards,
    };
  } finally {
    fs.rmSync(workDir, { recursive: true, force: true });
  }
}
