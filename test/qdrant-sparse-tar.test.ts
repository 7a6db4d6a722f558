/**
 * GNU sparse tar members, as Qdrant's snapshots hold them (its Rust `tar` crate builds them with
 * `sparse(true)`: old GNU type `S` headers, extension blocks past 4 data regions). The archives are
 * made here by GNU tar (`--format=gnu --sparse`) over files with holes, shaped like Qdrant's own shard
 * fixture `lib/storage/src/content_manager/snapshots/test-shard.snapshot` (wal/closed-255, a 1 MiB
 * sparse file; newest_clocks.json; replica_state.json; shard_config.json), with one data region and
 * with many; then read by the adapter's tar reader, alone and inside a set's archive.
 * Run: scripts/node.sh --import tsx test/run.ts qdrant-sparse
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, ftruncateSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { readArchive, SnapshotInspector, writeArchive } from '../activities/qdrant/archive';
import { collectionsIndex } from '../activities/qdrant/collections-index';
import { TarParser, type TarEvent } from '../activities/qdrant/tar';
import { loadConfig } from '../core/config';

const scratch = mkdtempSync(join(tmpdir(), 'qdrant-sparse-test-'));
after(() => rmSync(scratch, { recursive: true, force: true }));
let dirs = 0;

/** A file of `size` bytes that is all holes but `regions` data runs of 700 bytes, 80 000 bytes apart. */
function sparseFile(path: string, size: number, regions: number): Buffer[] {
  const runs: Buffer[] = [];
  const fd = openSync(path, 'w');
  try {
    ftruncateSync(fd, size);
    for (let i = 0; i < regions; i++) {
      const run = Buffer.alloc(700, 65 + i);
      writeSync(fd, run, 0, run.length, i * 80_000 + 4096);
      runs.push(run);
    }
  } finally {
    closeSync(fd);
  }
  return runs;
}

/** A shard folder shaped like Qdrant's test-shard.snapshot, its WAL segment with `regions` data regions. */
function shardFolder(dir: string, regions: number): Buffer[] {
  mkdirSync(join(dir, 'wal'), { recursive: true });
  const runs = sparseFile(join(dir, 'wal', 'closed-255'), 1 << 20, regions);
  writeFileSync(join(dir, 'newest_clocks.json'), JSON.stringify({ clocks: [{ peer_id: 1, clock_id: 0, current_tick: 7 }] }));
  writeFileSync(join(dir, 'replica_state.json'), JSON.stringify({ is_local: true, this_peer_id: 1, peers: { '1': 'Active' } }));
  writeFileSync(join(dir, 'shard_config.json'), JSON.stringify({ type: 'Local' }));
  return runs;
}

const SHARD_MEMBERS = ['wal', 'newest_clocks.json', 'replica_state.json', 'shard_config.json'];

function gnuSparseTar(file: string, dir: string, members: string[]): Buffer {
  execFileSync('tar', ['--format=gnu', '--sparse', '-cf', file, '-C', dir, ...members]);
  return readFileSync(file);
}

/** Feeds `archive` to the reader in awkward chunk sizes; returns its events (data copied). */
function parse(archive: Buffer, chunk = 333): { entries: Extract<TarEvent, { kind: 'entry' }>[]; data: Map<string, Buffer> } {
  const parser = new TarParser();
  const entries: Extract<TarEvent, { kind: 'entry' }>[] = [];
  const data = new Map<string, Buffer>();
  let current = '';
  for (let at = 0; at < archive.length; at += chunk) {
    for (const event of parser.push(archive.subarray(at, at + chunk))) {
      if (event.kind === 'entry') {
        entries.push(event);
        current = event.name;
        data.set(current, Buffer.alloc(0));
      } else if (event.kind === 'data') {
        data.set(current, Buffer.concat([data.get(current)!, event.chunk]));
      }
    }
  }
  parser.finish();
  return { entries, data };
}

/** The header block of member `name` in a GNU tar. */
function headerOf(archive: Buffer, name: string): Buffer {
  for (let at = 0; at + 512 <= archive.length; at += 512) {
    if (archive.toString('latin1', at + 257, at + 263) === 'ustar ' && archive.toString('latin1', at, at + name.length + 1) === `${name}\0`) {
      return archive.subarray(at, at + 512);
    }
  }
  throw new Error(`no header of ${name}`);
}

for (const regions of [1, 12]) {
  test(`Qdrant sparse tar: a shard shaped like Qdrant's fixture, its WAL segment sparse with ${regions} data region(s), reads to its end`, () => {
    const dir = join(scratch, `shard-${++dirs}`);
    const runs = shardFolder(dir, regions);
    const archive = gnuSparseTar(join(scratch, `shard-${dirs}.tar`), dir, SHARD_MEMBERS);
    const wal = headerOf(archive, 'wal/closed-255');
    assert.equal(String.fromCharCode(wal[156]!), 'S', 'GNU tar wrote an old-GNU sparse member');
    assert.equal(wal[482] !== 0, regions > 4, 'extension blocks follow the header exactly when more than 4 regions');

    const listed = execFileSync('tar', ['-tf', join(scratch, `shard-${dirs}.tar`)], { encoding: 'utf8' }).trim().split('\n');
    for (const chunk of [333, 512, 4096, 1 << 20]) {
      const { entries, data } = parse(archive, chunk);
      assert.deepEqual(entries.map((e) => e.name), listed, 'every member GNU tar lists, in order: the reader kept its place');
      const walEntry = entries.find((e) => e.name === 'wal/closed-255')!;
      assert.equal(walEntry.sparse?.realSize, 1 << 20);
      assert.ok(walEntry.sparse!.regions >= regions, `${walEntry.sparse!.regions} regions in the map`);
      // The stored bytes are the data regions (GNU tar stores whole blocks around them).
      const stored = data.get('wal/closed-255')!;
      assert.equal(stored.length, walEntry.size);
      for (const run of runs) assert.ok(stored.includes(run), 'every data region is in the stored bytes');
      assert.deepEqual(JSON.parse(data.get('shard_config.json')!.toString()), { type: 'Local' }, 'the member after the sparse one reads intact');
    }
  });
}

test('Qdrant sparse tar: collection snapshots holding sparse shards read to their end inside a set archive; a damaged sparse map is refused', async () => {
  const snapshots: { name: string; bytes: Buffer }[] = [];
  for (const [name, regions] of [['one-region', 1], ['many-regions', 9]] as const) {
    const dir = join(scratch, `collection-${++dirs}`);
    mkdirSync(dir);
    writeFileSync(join(dir, 'version.info'), '0.4.2');
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ params: { shard_number: 2 } }));
    writeFileSync(join(dir, 'payload_index.json'), JSON.stringify({ schema: {} }));
    shardFolder(join(dir, '0'), regions);
    shardFolder(join(dir, '1'), regions + 3);
    snapshots.push({ name, bytes: gnuSparseTar(join(scratch, `${name}.snapshot`), dir, ['version.info', 'config.json', 'payload_index.json', '0', '1']) });
  }
  for (const { bytes } of snapshots) {
    const inspector = new SnapshotInspector();
    for (let at = 0; at < bytes.length; at += 1000) inspector.push(bytes.subarray(at, at + 1000));
    const facts = inspector.finish();
    assert.equal(facts.versionInfo, '0.4.2');
    assert.equal(facts.sparseEntries, 2, 'one sparse WAL segment per shard');
  }

  const config = loadConfig({ BACKUP_DIR: scratch, LOG_DIR: join(scratch, 'logs'), QDRANT_URL: 'http://127.0.0.1:1' });
  const digest = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
  const recorded = snapshots.map(({ name, bytes }) => ({
    name,
    file: `${name}.snapshot`,
    serverSnapshot: `${name}-1-2026-01-01-00-00-00.snapshot`,
    sha256: digest(bytes),
    bytes: bytes.length,
    qdrantChecksum: digest(bytes),
    points: 0,
    config: {},
    payloadSchema: {},
  }));
  const path = join(scratch, 'set.tar.gz');
  await writeArchive(
    path,
    collectionsIndex(config, '1.16.3', recorded, []),
    snapshots.map(({ name, bytes }) => ({ entryName: `${name}.snapshot`, size: bytes.length, sha256: digest(bytes), open: async () => [bytes], mismatch: () => new Error('unexpected') })),
    { encoding: { compression: config.compression, recipients: [] } },
  );
  const contents = await readArchive(path, config);
  for (const { name, bytes } of snapshots) {
    const facts = contents.snapshots.get(`${name}.snapshot`)!;
    assert.equal(facts.sha256, digest(bytes));
    assert.equal(facts.sparseEntries, 2);
  }

  // A sparse map whose regions add up to more than the member stores: refused, not misread.
  const damaged = Buffer.from(snapshots[1]!.bytes);
  const header = headerOf(damaged, '0/wal/closed-255');
  const at = damaged.indexOf(header);
  damaged.write('77777777777\0', at + 124, 'latin1'); // the stored size
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 0x20 : damaged[at + i]!;
  damaged.write(`${sum.toString(8).padStart(6, '0')}\0 `, at + 148, 'latin1');
  const inspector = new SnapshotInspector();
  assert.throws(() => {
    inspector.push(damaged);
    inspector.finish();
  }, /sparse map of 0\/wal\/closed-255/);
});
