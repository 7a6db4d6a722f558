/**
 * Tests of the Qdrant stand-in (test/support/qdrant-standin), the fake Qdrant server other tests run
 * against. Run: node --import tsx --test test/qdrant-standin.test.ts
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import * as http from 'node:http';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { after, test } from 'node:test';
import { startQdrantStandIn as startStandIn, type QdrantStandIn, type QdrantStandInOptions } from './support/qdrant-standin';

/** Every stand-in of this file, so the last test can hold their answers against Qdrant's OpenAPI schema. */
const standIns: QdrantStandIn[] = [];
async function startQdrantStandIn(options: QdrantStandInOptions): Promise<QdrantStandIn> {
  const s = await startStandIn(options);
  standIns.push(s);
  return s;
}

/** Response bodies are checked field by field. */
type Json = any;

const scratch = mkdtempSync(path.join(tmpdir(), 'qdrant-standin-test-'));
after(() => rmSync(scratch, { recursive: true, force: true }));
let dirCounter = 0;
const freshDir = (): string => path.join(scratch, `data-${++dirCounter}`);

async function api(
  s: QdrantStandIn,
  method: string,
  urlPath: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<{ status: number; headers: Headers; json: Json; text: string }> {
  const res = await fetch(s.url + urlPath, {
    method,
    headers: {
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      ...(s.apiKey ? { 'api-key': s.apiKey } : {}),
      ...headers,
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  let json: Json;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, headers: res.headers, json, text };
}

/** Calls the API and insists on 200, returning `result`. */
async function ok(s: QdrantStandIn, method: string, urlPath: string, body?: unknown): Promise<Json> {
  const r = await api(s, method, urlPath, body);
  assert.equal(r.status, 200, `${method} ${urlPath}: ${r.text}`);
  assert.equal(r.json.status, 'ok');
  assert.equal(typeof r.json.time, 'number');
  return r.json.result;
}

/** Streams a snapshot download to `dest`, hashing on the way, as the backup tool does. */
async function downloadSnapshot(
  s: QdrantStandIn,
  collection: string,
  name: string,
  dest: string,
): Promise<{ status: number; contentLength: number; contentType: string | undefined; sha256: string }> {
  const res = await new Promise<http.IncomingMessage>((resolve, reject) =>
    http.get(`${s.url}/collections/${collection}/snapshots/${encodeURIComponent(name)}`, resolve).on('error', reject),
  );
  const hash = createHash('sha256');
  const tap = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      hash.update(chunk);
      callback(null, chunk);
    },
  });
  await pipeline(res, tap, createWriteStream(dest));
  return {
    status: res.statusCode ?? 0,
    contentLength: Number(res.headers['content-length']),
    contentType: res.headers['content-type'],
    sha256: hash.digest('hex'),
  };
}

/**
 * Hand-written streaming multipart upload (no FormData, which buffers): a header part, the file as a
 * read stream in deliberately odd-sized chunks, and the closing boundary, with an exact Content-Length.
 */
async function uploadSnapshot(
  s: QdrantStandIn,
  collection: string,
  file: string,
  query: Record<string, string>,
  headers: Record<string, string> = {},
): Promise<{ status: number; json: Json; text: string }> {
  const boundary = `----scholaria${randomBytes(12).toString('hex')}`;
  const head = Buffer.from(
    `--${boundary}\r\nContent-Disposition: form-data; name="snapshot"; filename="${path.basename(file)}"\r\n` +
      'Content-Type: application/octet-stream\r\n\r\n',
  );
  const tail = Buffer.from(`\r\n--${boundary}--\r\n`);
  const url = `${s.url}/collections/${collection}/snapshots/upload?${new URLSearchParams(query)}`;
  return new Promise((resolve, reject) => {
    const req = http.request(
      url,
      {
        method: 'POST',
        headers: {
          'content-type': `multipart/form-data; boundary=${boundary}`,
          'content-length': head.length + statSync(file).size + tail.length,
          ...(s.apiKey ? { 'api-key': s.apiKey } : {}),
          ...headers,
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let json: Json;
          try {
            json = JSON.parse(text);
          } catch {
            json = undefined;
          }
          resolve({ status: res.statusCode ?? 0, json, text });
        });
      },
    );
    req.on('error', reject);
    req.write(head);
    const body = createReadStream(file, { highWaterMark: 1000 }); // not a multiple of 512 or the boundary
    body.on('error', reject);
    body.on('end', () => req.end(tail));
    body.pipe(req, { end: false });
  });
}

const sha256Of = (file: string): string => createHash('sha256').update(readFileSync(file)).digest('hex');
const allPoints = (s: QdrantStandIn, c: string): Promise<Json> =>
  ok(s, 'POST', `/collections/${c}/points/scroll`, { limit: 1000, with_payload: true, with_vector: true }).then(
    (r: Json) => r.points,
  );

const UUID_1 = '5c56c793-69f3-4fbf-87e6-c4bf54c28c26';
const UUID_2 = 'F0000000-0000-4000-8000-000000000001'; // upper case on purpose: Qdrant returns lower case

/** Two collections with different vector configs and payloads. */
async function seed(s: QdrantStandIn): Promise<void> {
  await ok(s, 'PUT', '/collections/docs', { vectors: { size: 4, distance: 'Dot' } });
  await ok(s, 'PUT', '/collections/images', {
    vectors: { image: { size: 3, distance: 'Euclid' }, caption: { size: 2, distance: 'Cosine' } },
  });
  await ok(s, 'PUT', '/collections/docs/points?wait=true', {
    points: [
      { id: 3, vector: [0.5, 0.25, 0.125, 1], payload: { title: 'three', tags: ['a', 'b'] } },
      { id: UUID_1, vector: [1, 2, 3, 4], payload: { title: 'uuid one', nested: { n: 1 } } },
      { id: 1, vector: [0.1, 0.2, 0.3, 0.4], payload: { title: 'one' } },
      { id: 10, vector: [4, 3, 2, 1] },
      { id: UUID_2, vector: [0, 0, 0, 1], payload: { title: 'uuid two' } },
    ],
  });
  await ok(s, 'PUT', '/collections/images/points?wait=true', {
    points: [
      { id: 7, vector: { image: [1, 0, 0], caption: [3, 4] }, payload: { file: 'cat.png', size: 1024 } },
      { id: 8, vector: { image: [0, 1, 0] }, payload: { file: 'dog.png' } },
    ],
  });
}

test('Qdrant stand-in: root, headers and unimplemented endpoints identify the stand-in', async () => {
  const s = await startQdrantStandIn({ dataDir: freshDir() });
  try {
    const root = await api(s, 'GET', '/');
    assert.equal(root.status, 200);
    assert.deepEqual(root.json, { title: 'qdrant - vector search engine', version: '1.15.5', standin: true });
    assert.equal(root.headers.get('x-qdrant-standin'), 'true');

    const missing = await api(s, 'POST', '/collections/docs/points/search', { vector: [1], limit: 1 });
    assert.equal(missing.status, 404);
    assert.equal(missing.headers.get('x-qdrant-standin'), 'true');
    assert.deepEqual(missing.json.status, {
      error: 'stand-in: endpoint not implemented: POST /collections/docs/points/search',
    });
  } finally {
    await s.stop();
  }
});

test('Qdrant stand-in: collections with different vector configs, upsert, count, scroll pagination', async () => {
  const s = await startQdrantStandIn({ dataDir: freshDir() });
  try {
    await seed(s);
    assert.deepEqual(await ok(s, 'GET', '/collections'), { collections: [{ name: 'docs' }, { name: 'images' }] });
    assert.deepEqual(await ok(s, 'GET', '/collections/docs/exists'), { exists: true });
    assert.deepEqual(await ok(s, 'GET', '/collections/nope/exists'), { exists: false });

    const info = await ok(s, 'GET', '/collections/docs');
    assert.equal(info.status, 'green');
    assert.equal(info.optimizer_status, 'ok');
    assert.equal(info.points_count, 5);
    assert.deepEqual(info.config.params.vectors, { size: 4, distance: 'Dot' });
    assert.equal(info.config.params.shard_number, 1);
    assert.equal(info.config.quantization_config, null);
    assert.deepEqual(info.payload_schema, {});
    const images = await ok(s, 'GET', '/collections/images');
    assert.deepEqual(images.config.params.vectors, {
      image: { size: 3, distance: 'Euclid' },
      caption: { size: 2, distance: 'Cosine' },
    });

    assert.deepEqual(await ok(s, 'POST', '/collections/docs/points/count', { exact: true }), { count: 5 });
    assert.deepEqual(await ok(s, 'POST', '/collections/images/points/count', { exact: true }), { count: 2 });

    // Pages of 2: integer ids ascending first, then UUIDs (lower-cased), offset inclusive.
    const seen: Json[] = [];
    let offset: Json = null;
    let pages = 0;
    do {
      const page = await ok(s, 'POST', '/collections/docs/points/scroll', { limit: 2, offset, with_payload: true });
      seen.push(...page.points);
      offset = page.next_page_offset;
      pages++;
    } while (offset !== null);
    assert.equal(pages, 3);
    assert.deepEqual(
      seen.map((p) => p.id),
      [1, 3, 10, UUID_1, UUID_2.toLowerCase()],
    );
    assert.deepEqual(seen[1], { id: 3, payload: { title: 'three', tags: ['a', 'b'] } }); // no vector unless asked
    assert.deepEqual(seen[2].payload, {});

    const [cat] = await ok(s, 'POST', '/collections/images/points', { ids: [7], with_vector: true });
    assert.deepEqual(cat.vector, { image: [1, 0, 0], caption: [0.6000000238418579, 0.800000011920929] }); // Cosine → normalised f32
    assert.deepEqual(cat.payload, { file: 'cat.png', size: 1024 });

    await ok(s, 'POST', '/collections/docs/points/delete?wait=true', { points: [10] });
    assert.deepEqual(await ok(s, 'POST', '/collections/docs/points/count', {}), { count: 4 });

    const dim = await api(s, 'PUT', '/collections/docs/points', { points: [{ id: 99, vector: [1, 2, 3] }] });
    assert.equal(dim.status, 400);
    assert.equal(dim.json.status.error, 'Wrong input: Vector dimension error: expected dim: 4, got 3');
    const badId = await api(s, 'PUT', '/collections/docs/points', { points: [{ id: -1, vector: [1, 2, 3, 4] }] });
    assert.equal(badId.status, 400);
    const again = await api(s, 'PUT', '/collections/docs', { vectors: { size: 4, distance: 'Dot' } });
    assert.equal(again.status, 409);
    assert.equal(again.json.status.error, 'Wrong input: Collection `docs` already exists!');
    const notFound = await api(s, 'POST', '/collections/nope/points/count', { exact: true });
    assert.equal(notFound.status, 404);
    assert.equal(notFound.json.status.error, "Not found: Collection `nope` doesn't exist!");
    const zero = await api(s, 'PUT', '/collections/z', { vectors: { size: 0, distance: 'Dot' } });
    assert.equal(zero.status, 422);
  } finally {
    await s.stop();
  }
});

test('Qdrant stand-in: aliases are created, listed, renamed and deleted, one action at a time as Qdrant applies them', async () => {
  const s = await startQdrantStandIn({ dataDir: freshDir() });
  try {
    await seed(s);
    await ok(s, 'POST', '/collections/aliases', {
      actions: [
        { create_alias: { collection_name: 'docs', alias_name: 'docs-live' } },
        { create_alias: { collection_name: 'images', alias_name: 'img' } },
      ],
    });
    assert.deepEqual(await ok(s, 'GET', '/aliases'), {
      aliases: [
        { alias_name: 'docs-live', collection_name: 'docs' },
        { alias_name: 'img', collection_name: 'images' },
      ],
    });
    assert.deepEqual(await ok(s, 'GET', '/collections/docs/aliases'), {
      aliases: [{ alias_name: 'docs-live', collection_name: 'docs' }],
    });
    assert.equal((await ok(s, 'GET', '/collections/docs-live')).points_count, 5); // aliases resolve like in Qdrant

    // Qdrant applies and saves the actions one by one: a failing action keeps those before it.
    const failed = await api(s, 'POST', '/collections/aliases', {
      actions: [
        { delete_alias: { alias_name: 'img' } },
        { create_alias: { collection_name: 'missing', alias_name: 'x' } },
        { delete_alias: { alias_name: 'docs-live' } },
      ],
    });
    assert.equal(failed.status, 404);
    assert.deepEqual((await ok(s, 'GET', '/aliases')).aliases, [{ alias_name: 'docs-live', collection_name: 'docs' }]);
    await ok(s, 'POST', '/collections/aliases', { actions: [{ create_alias: { collection_name: 'images', alias_name: 'img' } }] });

    await ok(s, 'POST', '/collections/aliases', {
      actions: [{ rename_alias: { old_alias_name: 'img', new_alias_name: 'pictures' } }],
    });
    await ok(s, 'POST', '/collections/aliases', { actions: [{ delete_alias: { alias_name: 'docs-live' } }] });
    assert.deepEqual(await ok(s, 'GET', '/aliases'), {
      aliases: [{ alias_name: 'pictures', collection_name: 'images' }],
    });
  } finally {
    await s.stop();
  }
});

test('Qdrant stand-in: snapshot is listed with checksum and size of the downloaded bytes, and is a real tar', async () => {
  const s = await startQdrantStandIn({ dataDir: freshDir() });
  try {
    await seed(s);
    const created = await ok(s, 'POST', '/collections/docs/snapshots?wait=true');
    assert.match(created.name, /^docs-\d+-\d{4}-\d\d-\d\d-\d\d-\d\d-\d\d\.snapshot$/);
    assert.match(created.checksum, /^[0-9a-f]{64}$/);
    assert.deepEqual(await ok(s, 'GET', '/collections/docs/snapshots'), [created]);

    const file = path.join(scratch, 'download.snapshot');
    const dl = await downloadSnapshot(s, 'docs', created.name, file);
    assert.equal(dl.status, 200);
    assert.equal(dl.contentType, 'application/octet-stream');
    assert.equal(dl.contentLength, created.size);
    assert.equal(statSync(file).size, created.size);
    assert.equal(dl.sha256, created.checksum);

    // Shaped like Qdrant's: GNU headers, version.info of the collection crate, shard folders like its
    // test-shard.snapshot fixture, the WAL segment a sparse member (type S).
    const listing = execFileSync('tar', ['-tvf', file], { encoding: 'utf8' }).trim().split('\n');
    const entries = listing.map((line) => line.split(/\s+/).slice(5).join(' '));
    for (const expected of ['version.info', 'config.json', 'payload_index.json', '0/', '0/shard_config.json', '0/replica_state.json', '0/newest_clocks.json']) {
      assert.ok(entries.includes(expected), `${expected} in ${entries.join(', ')}`);
    }
    assert.ok(entries.some((e) => /^0\/wal\/closed-\d+$/.test(e)), entries.join(', '));
    assert.equal(execFileSync('tar', ['-xOf', file, 'version.info'], { encoding: 'utf8' }), '0.4.2');
    const raw = readFileSync(file);
    const types = new Set<string>();
    for (let at = 0; at + 512 <= raw.length; at += 512) {
      if (raw.toString('latin1', at + 257, at + 263) === 'ustar ') types.add(raw.toString('latin1', at + 156, at + 157));
    }
    assert.ok(types.has('S'), `GNU sparse member among header types ${[...types].join(',')}`);

    const missing = await api(s, 'GET', '/collections/docs/snapshots/nope.snapshot');
    assert.equal(missing.status, 404);
    assert.equal(missing.json.status.error, 'Not found: Snapshot nope.snapshot not found');
    assert.equal(await ok(s, 'DELETE', `/collections/docs/snapshots/${created.name}`), true);
    assert.deepEqual(await ok(s, 'GET', '/collections/docs/snapshots'), []);
  } finally {
    await s.stop();
  }
});

test('Qdrant stand-in: streaming multipart upload recovers a deleted collection exactly', async () => {
  const s = await startQdrantStandIn({ dataDir: freshDir() });
  try {
    await seed(s);
    const originals = await allPoints(s, 'docs');
    const originalConfig = (await ok(s, 'GET', '/collections/docs')).config;
    const snap = await ok(s, 'POST', '/collections/docs/snapshots');
    const file = path.join(scratch, 'upload.snapshot');
    await downloadSnapshot(s, 'docs', snap.name, file);

    assert.equal(await ok(s, 'DELETE', '/collections/docs'), true);
    assert.equal((await api(s, 'GET', '/collections/docs')).status, 404);

    const up = await uploadSnapshot(s, 'docs', file, { wait: 'true', priority: 'snapshot', checksum: sha256Of(file) });
    assert.equal(up.status, 200, up.text);
    assert.equal(up.json.result, true);

    assert.deepEqual(await allPoints(s, 'docs'), originals);
    assert.deepEqual((await ok(s, 'GET', '/collections/docs')).config, originalConfig);
    // Like real Qdrant (issue #10207) the uploaded file stays in the collection's snapshot list, without checksum.
    const listed = await ok(s, 'GET', '/collections/docs/snapshots');
    assert.ok(listed.some((d: Json) => d.name === 'upload.snapshot' && d.checksum === null));

    // URL recovery: file:// inside the snapshots dir works, outside is forbidden.
    await ok(s, 'POST', '/collections/docs/points/delete?wait=true', { points: [1, 3] });
    const inside = path.join(s.dataDir, 'snapshots', 'docs', snap.name);
    await ok(s, 'PUT', '/collections/docs/snapshots/recover', { location: `file://${inside}`, priority: 'snapshot' });
    assert.deepEqual(await allPoints(s, 'docs'), originals);
    const outside = await api(s, 'PUT', '/collections/docs/snapshots/recover', { location: `file://${file}` });
    assert.equal(outside.status, 403);
  } finally {
    await s.stop();
  }
});

test('Qdrant stand-in: rejected uploads (wrong checksum, not a tar, truncated, incompatible) leave the collection unchanged', async () => {
  const s = await startQdrantStandIn({ dataDir: freshDir() });
  try {
    await seed(s);
    const snap = await ok(s, 'POST', '/collections/docs/snapshots');
    const file = path.join(scratch, 'reject.snapshot');
    await downloadSnapshot(s, 'docs', snap.name, file);
    await ok(s, 'PUT', '/collections/docs/points?wait=true', { points: [{ id: 500, vector: [1, 1, 1, 1] }] });
    const before = await allPoints(s, 'docs');

    const wrong = await uploadSnapshot(s, 'docs', file, { priority: 'snapshot', checksum: 'ab'.repeat(32) });
    assert.equal(wrong.status, 400);
    assert.equal(wrong.json.status.error, `Checksum mismatch: expected ${sha256Of(file)}, actual ${'ab'.repeat(32)}`);
    assert.deepEqual(await allPoints(s, 'docs'), before);

    const garbage = path.join(scratch, 'garbage.snapshot');
    writeFileSync(garbage, randomBytes(3000));
    const notTar = await uploadSnapshot(s, 'docs', garbage, { priority: 'snapshot' });
    assert.equal(notTar.status, 400);
    assert.match(notTar.json.status.error, /not a valid tar archive/);

    const truncated = path.join(scratch, 'truncated.snapshot');
    writeFileSync(truncated, readFileSync(file).subarray(0, 2048));
    const cut = await uploadSnapshot(s, 'docs', truncated, { priority: 'snapshot' });
    assert.equal(cut.status, 400);
    assert.match(cut.json.status.error, /not a valid tar archive/);
    assert.deepEqual(await allPoints(s, 'docs'), before);

    const incompatible = await uploadSnapshot(s, 'images', file, { priority: 'snapshot' });
    assert.equal(incompatible.status, 400);
    assert.match(incompatible.json.status.error, /^Wrong input: Snapshot is not compatible with existing collection/);
    assert.equal((await allPoints(s, 'images')).length, 2);
  } finally {
    await s.stop();
  }
});

test('Qdrant stand-in: API key is required when configured', async () => {
  const s = await startQdrantStandIn({ dataDir: freshDir(), apiKey: 'sekret' });
  try {
    const noKey = await fetch(`${s.url}/collections`);
    assert.equal(noKey.status, 401);
    assert.equal(await noKey.text(), 'Must provide an API key or an Authorization bearer token');
    assert.equal((await fetch(`${s.url}/collections`, { headers: { 'api-key': 'wrong' } })).status, 401);
    assert.equal((await fetch(`${s.url}/collections`, { headers: { 'api-key': 'sekret' } })).status, 200);
    assert.equal((await fetch(`${s.url}/collections`, { headers: { authorization: 'Bearer sekret' } })).status, 200);
    assert.equal((await fetch(`${s.url}/`)).status, 200); // `/` is whitelisted, as in Qdrant

    await seed(s); // helpers send the key
    const snap = await ok(s, 'POST', '/collections/docs/snapshots');
    const unauth = await new Promise<number>((resolve, reject) =>
      http
        .get(`${s.url}/collections/docs/snapshots/${snap.name}`, (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        })
        .on('error', reject),
    );
    assert.equal(unauth, 401);
  } finally {
    await s.stop();
  }
});

test('Qdrant stand-in: restart with the same dataDir keeps collections, points, aliases and snapshots', async () => {
  const dataDir = freshDir();
  const first = await startQdrantStandIn({ dataDir });
  await seed(first);
  await ok(first, 'POST', '/collections/aliases', {
    actions: [{ create_alias: { collection_name: 'images', alias_name: 'img' } }],
  });
  const snap = await ok(first, 'POST', '/collections/images/snapshots');
  const points = { docs: await allPoints(first, 'docs'), images: await allPoints(first, 'images') };
  await first.stop();

  const second = await startQdrantStandIn({ dataDir });
  try {
    assert.deepEqual(await ok(second, 'GET', '/collections'), { collections: [{ name: 'docs' }, { name: 'images' }] });
    assert.deepEqual(await allPoints(second, 'docs'), points.docs);
    assert.deepEqual(await allPoints(second, 'images'), points.images);
    assert.deepEqual(await ok(second, 'GET', '/aliases'), { aliases: [{ alias_name: 'img', collection_name: 'images' }] });
    assert.deepEqual(await ok(second, 'GET', '/collections/images/snapshots'), [snap]);
    assert.equal(snap.name.split('-')[1], (await ok(second, 'POST', '/collections/docs/snapshots')).name.split('-')[1]); // same peer id
  } finally {
    await second.stop();
  }
});

test('Qdrant stand-in: corruptNextSnapshotChecksum makes the reported checksum differ from the bytes', async () => {
  const s = await startQdrantStandIn({ dataDir: freshDir() });
  try {
    await seed(s);
    s.corruptNextSnapshotChecksum('docs');
    const bad = await ok(s, 'POST', '/collections/docs/snapshots');
    const file = path.join(scratch, 'corrupt.snapshot');
    const dl = await downloadSnapshot(s, 'docs', bad.name, file);
    assert.match(bad.checksum, /^[0-9a-f]{64}$/);
    assert.notEqual(bad.checksum, dl.sha256);
    assert.equal(bad.size, dl.contentLength);
    // The corrupted value is what the server keeps reporting for that file.
    assert.equal((await ok(s, 'GET', '/collections/docs/snapshots'))[0].checksum, bad.checksum);

    // One-shot: on a listing it corrupts that response only.
    await ok(s, 'DELETE', `/collections/docs/snapshots/${bad.name}`);
    const good = await ok(s, 'POST', '/collections/docs/snapshots');
    assert.equal(good.checksum, (await downloadSnapshot(s, 'docs', good.name, file)).sha256);
    s.corruptNextSnapshotChecksum('docs');
    assert.notEqual((await ok(s, 'GET', '/collections/docs/snapshots'))[0].checksum, good.checksum);
    assert.equal((await ok(s, 'GET', '/collections/docs/snapshots'))[0].checksum, good.checksum);
  } finally {
    await s.stop();
  }
});

test('Qdrant stand-in: wait=false answers 202 and finishes the work in the background', async () => {
  const s = await startQdrantStandIn({ dataDir: freshDir() });
  try {
    await seed(s);
    const r = await api(s, 'POST', '/collections/docs/snapshots?wait=false');
    assert.equal(r.status, 202);
    assert.equal(r.json.status, 'accepted');
    assert.equal(r.json.result, undefined);
    let listed: Json[] = [];
    for (let i = 0; i < 50 && listed.length === 0; i++) {
      listed = await ok(s, 'GET', '/collections/docs/snapshots');
      if (listed.length === 0) await new Promise((resolve) => setTimeout(resolve, 20));
    }
    assert.equal(listed.length, 1);
  } finally {
    await s.stop();
  }
});

test('Qdrant stand-in: several shards and sparse vectors survive a snapshot and its recovery; each shard has its own sparse WAL', async () => {
  const s = await startQdrantStandIn({ dataDir: freshDir() });
  try {
    await ok(s, 'PUT', '/collections/hybrid', {
      vectors: { dense: { size: 2, distance: 'Dot' } },
      sparse_vectors: { keywords: {} },
      shard_number: 3,
    });
    await ok(s, 'PUT', '/collections/hybrid/points?wait=true', {
      points: Array.from({ length: 30 }, (_, i) => ({
        id: i + 1,
        vector: { dense: [i, 1], keywords: { indices: [i + 5, i], values: [0.5, 0.25] } },
        payload: { n: i },
      })),
    });
    const before = await allPoints(s, 'hybrid');
    assert.deepEqual(before[0].vector.keywords, { indices: [0, 5], values: [0.25, 0.5] }, 'sparse vectors come back sorted by index');
    const snap = await ok(s, 'POST', '/collections/hybrid/snapshots');
    const file = path.join(scratch, 'hybrid.snapshot');
    await downloadSnapshot(s, 'hybrid', snap.name, file);
    const names = execFileSync('tar', ['-tf', file], { encoding: 'utf8' }).trim().split('\n');
    for (const shard of ['0', '1', '2']) assert.ok(names.some((n) => new RegExp(`^${shard}/wal/closed-\\d+$`).test(n)), names.join(', '));
    assert.ok(!names.includes('3/'), 'three shards, no more');
    await ok(s, 'DELETE', '/collections/hybrid');
    assert.equal((await uploadSnapshot(s, 'hybrid', file, { priority: 'snapshot', checksum: sha256Of(file) })).status, 200);
    assert.deepEqual(await allPoints(s, 'hybrid'), before);
    assert.equal((await ok(s, 'GET', '/collections/hybrid')).config.params.shard_number, 3);
  } finally {
    await s.stop();
  }
});

test('Qdrant stand-in: recovery into an existing collection replaces its points only, keeping its config and payload indexes (as Qdrant does)', async () => {
  const s = await startQdrantStandIn({ dataDir: freshDir() });
  try {
    await seed(s);
    await ok(s, 'PUT', '/collections/docs/index?wait=true', { field_name: 'title', field_schema: 'keyword' });
    const snap = await ok(s, 'POST', '/collections/docs/snapshots');
    const file = path.join(scratch, 'keep-config.snapshot');
    await downloadSnapshot(s, 'docs', snap.name, file);
    const backedUp = await allPoints(s, 'docs');
    await ok(s, 'DELETE', '/collections/docs');
    await ok(s, 'PUT', '/collections/docs', { vectors: { size: 4, distance: 'Dot' }, hnsw_config: { m: 48 } });
    await ok(s, 'PUT', '/collections/docs/index?wait=true', { field_name: 'year', field_schema: 'integer' });
    assert.equal((await uploadSnapshot(s, 'docs', file, { priority: 'snapshot' })).status, 200);
    const info = await ok(s, 'GET', '/collections/docs');
    assert.deepEqual(await allPoints(s, 'docs'), backedUp);
    assert.equal(info.config.hnsw_config.m, 48, 'the live HNSW config stays');
    assert.deepEqual(Object.keys(info.payload_schema), ['year'], 'the live payload indexes stay');
    // Into a missing collection, the snapshot's own config and indexes come back.
    await ok(s, 'DELETE', '/collections/docs');
    assert.equal((await uploadSnapshot(s, 'docs', file, { priority: 'snapshot' })).status, 200);
    const recreated = await ok(s, 'GET', '/collections/docs');
    assert.equal(recreated.config.hnsw_config.m, 16);
    assert.deepEqual(recreated.payload_schema, { title: { data_type: 'keyword', points: 4 } });
  } finally {
    await s.stop();
  }
});

test('Qdrant stand-in: a read-only key reads but gets 403 on writes and snapshot uploads', async () => {
  const s = await startQdrantStandIn({ dataDir: freshDir(), apiKey: 'full-key', readOnlyApiKey: 'read-key' });
  try {
    await seed(s);
    const snap = await ok(s, 'POST', '/collections/docs/snapshots');
    const file = path.join(scratch, 'readonly.snapshot');
    await downloadSnapshot(s, 'docs', snap.name, file);
    const read = { 'api-key': 'read-key' };
    assert.equal((await api(s, 'GET', '/collections', undefined, read)).status, 200);
    assert.equal((await api(s, 'POST', '/collections/docs/points/count', { exact: true }, read)).status, 200);
    const upload = await uploadSnapshot(s, 'docs', file, { priority: 'snapshot' }, read);
    assert.equal(upload.status, 403);
    assert.match(upload.json.status.error, /^Forbidden: /);
    assert.equal((await api(s, 'DELETE', '/collections/docs', undefined, read)).status, 403);
    assert.equal((await ok(s, 'POST', '/collections/docs/points/count', { exact: true })).count, 5);
  } finally {
    await s.stop();
  }
});

test('Qdrant stand-in: an upload can fail after the recovery created the collection, leaving it empty', async () => {
  const s = await startQdrantStandIn({ dataDir: freshDir() });
  try {
    await seed(s);
    const snap = await ok(s, 'POST', '/collections/docs/snapshots');
    const file = path.join(scratch, 'half.snapshot');
    await downloadSnapshot(s, 'docs', snap.name, file);
    await ok(s, 'DELETE', '/collections/docs');
    s.failNextUploads(1, true);
    assert.equal((await uploadSnapshot(s, 'docs', file, { priority: 'snapshot' })).status, 500);
    assert.equal((await ok(s, 'POST', '/collections/docs/points/count', { exact: true })).count, 0);
  } finally {
    await s.stop();
  }
});

test('Qdrant stand-in: every answer above holds against Qdrant\'s OpenAPI schema (requests here are wrong on purpose at times)', () => {
  assert.ok(standIns.length >= 10);
  assert.deepEqual(standIns.flatMap((s) => s.contractViolations()).filter((v) => v.problem.startsWith('answer')), []);
});
