/**
 * Qdrant's own code on the shard data our archive carries: PyPI `qdrant-edge-py` (Qdrant's shard
 * engine, pinned, installed by scripts/bootstrap.sh into .tools/qdrant-edge) builds a real shard
 * (segments, WAL, mmap'd storage: sparse files); it is laid out as a collection snapshot (version.info
 * 0.4.2, config.json, payload_index.json, `0/`) and tarred as Qdrant does (GNU, sparse members); that
 * snapshot goes through the backup's archive writer, verify's reader and the restore's unpacking;
 * what comes out must be byte-identical, and Qdrant's code (`EdgeShard.unpack_snapshot`, then load)
 * must accept its shard with every point.
 *
 * The stand-in's own snapshots hold no Qdrant segments (its points live in a WAL file only it reads),
 * so Qdrant's code is not run on them; this test is where our handling meets real shard data.
 * Run: scripts/node.sh --import tsx test/run.ts qdrant-edge
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, test } from 'node:test';
import { readArchive, writeArchive } from '../activities/qdrant/archive';
import { collectionsIndex } from '../activities/qdrant/collections-index';
import { loadConfig } from '../core/config';

const EDGE = resolve(__dirname, '..', '.tools', 'qdrant-edge');
const HELPER = join(__dirname, 'support', 'qdrant-edge', 'shard.py');
const scratch = mkdtempSync(join(tmpdir(), 'qdrant-edge-test-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

const sha256 = (bytes: Buffer): string => createHash('sha256').update(bytes).digest('hex');
const python = (...args: string[]): string => execFileSync('python3', [HELPER, ...args], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });

test('Qdrant edge: a real Qdrant shard, as a collection snapshot, survives the backup archive, verify and the restore unpacking, and Qdrant\'s code accepts it', async () => {
  assert.ok(existsSync(join(EDGE, 'qdrant_edge')), `Qdrant's shard engine is not installed in ${EDGE}: run bash scripts/bootstrap.sh`);
  const points = Array.from({ length: 40 }, (_, i) => ({
    id: i + 1,
    text: [1, 0.5, -2, i / 10],
    words: { indices: [i, i + 100], values: [0.25, 1] },
    payload: { title: `chunk ${i}`, position: i },
  }));
  writeFileSync(join(scratch, 'points.json'), JSON.stringify(points));
  const collection = join(scratch, 'collection');
  mkdirSync(collection);
  python('build', join(collection, '0'), join(scratch, 'points.json'));
  writeFileSync(join(collection, '0', 'shard_config.json'), JSON.stringify({ type: 'Local' }));
  writeFileSync(join(collection, '0', 'replica_state.json'), JSON.stringify({ is_local: true, this_peer_id: 1, peers: { '1': 'Active' } }));
  writeFileSync(join(collection, 'version.info'), '0.4.2');
  writeFileSync(join(collection, 'config.json'), JSON.stringify({ params: { vectors: { text: { size: 4, distance: 'Dot' } }, sparse_vectors: { words: {} }, shard_number: 1 } }));
  writeFileSync(join(collection, 'payload_index.json'), JSON.stringify({ schema: {} }));
  const snapshotFile = join(scratch, 'docs.snapshot');
  execFileSync('tar', ['--format=gnu', '--sparse', '-cf', snapshotFile, '-C', collection, 'version.info', 'config.json', 'payload_index.json', '0']);
  const snapshot = readFileSync(snapshotFile);

  // The backup's writer, verify's reader.
  const config = loadConfig({ BACKUP_DIR: scratch, LOG_DIR: join(scratch, 'logs'), QDRANT_URL: 'http://127.0.0.1:1' });
  const recorded = {
    name: 'docs',
    file: 'docs.snapshot',
    serverSnapshot: 'docs-1-2026-01-01-00-00-00.snapshot',
    sha256: sha256(snapshot),
    bytes: snapshot.length,
    qdrantChecksum: sha256(snapshot),
    points: points.length,
    config: {},
    payloadSchema: {},
  };
  const archive = join(scratch, 'qdrant_snapshot.tar.gz');
  await writeArchive(
    archive,
    collectionsIndex(config, '1.16.3', [recorded], []),
    [{ entryName: 'docs.snapshot', size: snapshot.length, sha256: sha256(snapshot), open: async () => [snapshot], mismatch: () => new Error('unexpected') }],
    { encoding: { compression: config.compression, recipients: [] } },
  );
  // The restore's unpacking, into a scratch file as restore.ts does.
  const unpackedChunks: Buffer[] = [];
  const contents = await readArchive(archive, config, {
    sinkFor: () => ({
      write: (chunk) => void unpackedChunks.push(Buffer.from(chunk)),
      end: async () => undefined,
    }),
  });
  const facts = contents.snapshots.get('docs.snapshot')!;
  assert.equal(facts.versionInfo, '0.4.2');
  assert.ok(facts.sparseEntries > 0, `Qdrant's shard files are sparse members (${facts.sparseEntries})`);
  const unpacked = Buffer.concat(unpackedChunks);
  assert.equal(sha256(unpacked), sha256(snapshot), 'byte-identical after the archive');

  // Qdrant's code on the shard inside it.
  const restored = join(scratch, 'restored');
  mkdirSync(restored);
  writeFileSync(join(scratch, 'restored.snapshot'), unpacked);
  execFileSync('tar', ['-xf', join(scratch, 'restored.snapshot'), '-C', restored]);
  const shardSnapshot = join(scratch, 'shard.snapshot');
  execFileSync('tar', ['--format=gnu', '--sparse', '-cf', shardSnapshot, '-C', join(restored, '0'), '.']);
  const held = JSON.parse(python('check', shardSnapshot, join(scratch, 'edge-unpacked'))) as { points: number; ids: number[]; payloads: Record<string, unknown> };
  assert.equal(held.points, points.length);
  assert.deepEqual(held.ids, points.map((p) => p.id));
  assert.deepEqual(held.payloads['7'], points[6]!.payload);
});
