import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { keyCountsPerDatabase, startLocalRedis, type LocalRedis, type LocalRedisOptions } from '../activities/redis/local-server';
import { Crc64, crc64, crc64Hex, inspectRdbFile, keysPerDatabase, maxRdbVersionFor, RdbError, RdbInspector } from '../activities/redis/rdb';
import { ReplicationRefusedError, streamRdbFromServer } from '../activities/redis/replication';
import { ReplicationUnavailable, replicateIntoTarget } from '../activities/redis/replicate-into-target';
import { chunkWriter, readFileChunks, type ChunkConsumer } from '../activities/file-chunks';

const run = promisify(execFile);
const FAST_SYNC = ['--repl-diskless-sync-delay', '0'];

let workDir: string;
const servers: LocalRedis[] = [];
const clients: Redis[] = [];

before(async () => {
  workDir = await mkdtemp(join(tmpdir(), 'redis-rdb-test-'));
});

after(async () => {
  for (const client of clients) client.disconnect();
  await Promise.all(servers.map((server) => server.stop()));
  await rm(workDir, { recursive: true, force: true });
});

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  assert.ok(address && typeof address === 'object');
  return address.port;
}

async function startServer(name: string, options: Omit<LocalRedisOptions, 'dir'> = {}): Promise<LocalRedis> {
  const server = await startLocalRedis({ dir: join(workDir, name), ...options });
  servers.push(server);
  return server;
}

function clientFor(server: LocalRedis, password?: string): Redis {
  const client = server.socketPath
    ? new Redis({ path: server.socketPath, ...(password ? { password } : {}) })
    : new Redis({ host: '127.0.0.1', port: server.port!, ...(password ? { password } : {}) });
  clients.push(client);
  return client;
}

/** A mix of types and encodings in db0 and db3, some with TTLs. */
async function fillWithSampleData(client: Redis): Promise<void> {
  const db0 = client.pipeline().select(0);
  for (let i = 0; i < 500; i++) db0.set(`string:${i}`, `value-${i}`);
  db0.set('big:compressible', 'x'.repeat(200_000));
  db0.set('big:random', randomBytes(300_000).toString('base64'));
  db0.set('ttl:string', 'expiring', 'PX', 600_000);
  for (let i = 0; i < 20; i++) db0.hset(`hash:${i}`, { name: `n${i}`, count: String(i) });
  db0.hset('hash:large', Object.fromEntries(Array.from({ length: 1000 }, (_, i) => [`field${i}`, `v${i}`])));
  db0.rpush('list:small', 'a', 'b', 'c');
  db0.rpush('list:large', ...Array.from({ length: 5000 }, (_, i) => `item${i}`));
  db0.sadd('set:ints', 1, 2, 3, 42);
  db0.sadd('set:strings', 'alpha', 'beta', 'gamma');
  db0.zadd('zset:scores', 1.5, 'one', 2.25, 'two', -3, 'minus');
  db0.hset('ttl:hash', 'f', 'v');
  db0.pexpire('ttl:hash', 900_000);
  await db0.exec();
  const db3 = client.pipeline().select(3);
  db3.set('db3:string', 'three');
  db3.hset('db3:hash', 'k', 'v');
  db3.zadd('db3:zset', 10, 'ten');
  db3.sadd('db3:set', 'x');
  db3.set('db3:ttl', 'soon', 'PX', 300_000);
  await db3.exec();
  await client.select(0);
}

async function snapshotOf(client: Redis): Promise<Record<string, unknown>> {
  await client.select(0);
  const db0 = {
    string: await client.get('string:7'),
    compressible: (await client.get('big:compressible'))?.length,
    random: await client.get('big:random'),
    hash: await client.hgetall('hash:3'),
    largeHashSize: await client.hlen('hash:large'),
    list: await client.lrange('list:small', 0, -1),
    largeListTail: await client.lrange('list:large', -2, -1),
    ints: (await client.smembers('set:ints')).sort(),
    strings: (await client.smembers('set:strings')).sort(),
    zset: await client.zrange('zset:scores', 0, '-1', 'WITHSCORES'),
  };
  await client.select(3);
  const db3 = { string: await client.get('db3:string'), zset: await client.zrange('db3:zset', 0, '-1', 'WITHSCORES') };
  await client.select(0);
  return { db0, db3 };
}

/** The copy's TTLs are the original's, counted down by at most the seconds the test took; no TTL stays none. */
async function assertSameTtls(source: Redis, copy: Redis): Promise<void> {
  const [sourceTtls, copyTtls] = [await ttlsOf(source), await ttlsOf(copy)];
  copyTtls.forEach((ttl, i) => {
    const original = sourceTtls[i]!;
    if (original === -1) assert.equal(ttl, -1);
    else assert.ok(ttl <= original + 50 && ttl > original - 10_000, `PTTL ${ttl} vs ${original}`);
  });
}

async function ttlsOf(client: Redis): Promise<number[]> {
  await client.select(0);
  const ttls = [await client.pttl('ttl:string'), await client.pttl('ttl:hash'), await client.pttl('string:1')];
  await client.select(3);
  ttls.push(await client.pttl('db3:ttl'));
  await client.select(0);
  return ttls;
}

async function streamToFile(url: string, path: string): Promise<{ bytes: number; transfer: string; progress: number }> {
  const file = createWriteStream(path);
  let progress = 0;
  const result = await streamRdbFromServer({ url, receive: chunkWriter(file).write, onProgress: (bytes) => (progress = bytes) });
  file.end();
  await new Promise<void>((resolve, reject) => file.once('finish', resolve).once('error', reject));
  return { ...result, progress };
}

async function serverVersion(client: Redis): Promise<string> {
  return /redis_version:(\S+)/.exec(await client.info('server'))![1]!;
}

/** Backs up `source`, checks the file three ways, and loads it into a fresh server to compare. */
async function assertFaithfulBackup(source: LocalRedis, name: string, expectedTransfer: 'disk' | 'diskless'): Promise<string> {
  const sourceClient = clientFor(source);
  const rdbPath = join(workDir, `${name}.rdb`);
  const streamed = await streamToFile(source.url, rdbPath);
  assert.equal(streamed.transfer, expectedTransfer);
  assert.equal(streamed.progress, streamed.bytes);
  assert.equal((await readFile(rdbPath)).length, streamed.bytes);

  await run('redis-check-rdb', [rdbPath]);
  const facts = await inspectRdbFile(rdbPath);
  const version = await serverVersion(sourceClient);
  assert.deepEqual(facts, { rdbVersion: maxRdbVersionFor(version), redisVersion: version, bytes: streamed.bytes, checksum: 'ok' });

  const restored = await startServer(`${name}-restored`, { rdbFile: rdbPath, extraArgs: FAST_SYNC });
  const restoredClient = clientFor(restored);
  const expectedCounts = await keyCountsPerDatabase(sourceClient);
  assert.deepEqual(Object.keys(expectedCounts).sort(), ['db0', 'db3']);
  assert.deepEqual(await keyCountsPerDatabase(restoredClient), expectedCounts);
  assert.deepEqual(await snapshotOf(restoredClient), await snapshotOf(sourceClient));
  await assertSameTtls(sourceClient, restoredClient);
  assert.equal((await readFile(rdbPath)).length, streamed.bytes, 'the restore server must not rewrite the RDB');
  return rdbPath;
}

test('crc64 matches the Redis check value, and chunking does not change it', () => {
  assert.equal(crc64Hex(crc64(Buffer.from('123456789'))), 'e9c6d914c4b8d9ca');
  const data = randomBytes(100_003);
  let reference = 0n;
  for (const byte of data.subarray(0, 5000)) {
    reference ^= BigInt(byte);
    for (let bit = 0; bit < 8; bit++) reference = reference & 1n ? (reference >> 1n) ^ 0x95ac9329ac4bc9b5n : reference >> 1n;
  }
  assert.equal(crc64(data.subarray(0, 5000)), reference);
  const incremental = new Crc64();
  for (const cut of [[0, 1], [1, 8], [8, 13], [13, 70_001], [70_001, 100_003]] as const) incremental.update(data.subarray(...cut));
  assert.equal(incremental.value(), crc64(data));
});

test('maxRdbVersionFor maps releases to the newest RDB they load', () => {
  assert.equal(maxRdbVersionFor('7.0.15'), 10);
  assert.equal(maxRdbVersionFor('7.2.4'), 11);
  assert.equal(maxRdbVersionFor('7.4.0'), 12);
  assert.equal(maxRdbVersionFor('6.2.14'), 9);
  assert.equal(maxRdbVersionFor('3.2.1'), undefined);
});

describe('backups from real servers', () => {
  let diskless: LocalRedis;
  let diskBacked: LocalRedis;
  let backupPath: string;

  before(async () => {
    diskless = await startServer('diskless', { port: await freePort(), extraArgs: FAST_SYNC });
    diskBacked = await startServer('disk', { port: await freePort(), extraArgs: [...FAST_SYNC, '--repl-diskless-sync', 'no'] });
    await fillWithSampleData(clientFor(diskless));
    await fillWithSampleData(clientFor(diskBacked));
  });

  test('diskless transfer ($EOF marker) gives a faithful RDB', async () => {
    backupPath = await assertFaithfulBackup(diskless, 'diskless', 'diskless');
  });

  test('disk transfer ($<len>) gives a faithful RDB', async () => {
    await assertFaithfulBackup(diskBacked, 'disk', 'disk');
  });

  test('a private server on a unix socket serves SYNC too', async () => {
    const socketServer = await startServer('socket', { extraArgs: FAST_SYNC });
    assert.match(socketServer.url, /^unix:\//);
    await clientFor(socketServer).set('only', 'key');
    const path = join(workDir, 'socket.rdb');
    assert.equal((await streamToFile(socketServer.url, path)).transfer, 'diskless');
    assert.equal((await inspectRdbFile(path)).checksum, 'ok');
  });

  test('a slow receiver holds the transfer back: its lent chunk is not overwritten before it is done, and it gets every byte', async () => {
    const chunks: Buffer[] = [];
    // Copies each chunk only after a pause: a read into the same buffer before that would corrupt the copy.
    const slow = async (chunk: Buffer) => {
      await new Promise((resolve) => setTimeout(resolve, 5));
      chunks.push(Buffer.from(chunk));
    };
    const result = await streamRdbFromServer({ url: diskless.url, receive: slow });
    const received = Buffer.concat(chunks);
    assert.equal(received.length, result.bytes);
    const inspector = new RdbInspector();
    await pipeline(Readable.from([received]), inspector, new Writable({ write: (_chunk, _encoding, callback) => callback() }));
    assert.equal(inspector.result().checksum, 'ok');
  });

  test('the inspector copes with the header arriving in tiny chunks', async () => {
    const whole = await readFile(backupPath);
    const pieces: Buffer[] = [];
    let offset = 0;
    for (let size = 1; offset < 4096; size = (size % 13) + 1) {
      pieces.push(whole.subarray(offset, offset + size));
      offset += size;
    }
    pieces.push(whole.subarray(offset));
    const inspector = new RdbInspector();
    const passedThrough: Buffer[] = [];
    await pipeline(Readable.from(pieces), inspector, new Writable({ write: (chunk: Buffer, _encoding, callback) => (passedThrough.push(chunk), callback()) }));
    assert.deepEqual(inspector.result(), await inspectRdbFile(backupPath));
    assert.ok(Buffer.concat(passedThrough).equals(whole), 'the inspector passes bytes through unchanged');
  });

  test('keys per database from the RESIZEDB records equal the server\'s, however the bytes are cut; a report that does not add up gives none', async () => {
    const whole = await readFile(backupPath);
    const report = (await run('redis-check-rdb', [backupPath])).stdout;
    const expected = await keyCountsPerDatabase(clientFor(diskless));
    assert.deepEqual(Object.keys(expected).sort(), ['db0', 'db3']);
    for (const size of [7, 64 * 1024, whole.length]) {
      const pieces = Array.from({ length: Math.ceil(whole.length / size) }, (_, index) => whole.subarray(index * size, (index + 1) * size));
      const inspector = new RdbInspector();
      await pipeline(Readable.from(pieces), inspector, new Writable({ write: (_chunk, _encoding, callback) => callback() }));
      assert.deepEqual(keysPerDatabase(report, inspector), expected, `chunks of ${size} bytes`);
      const oneKeyMore = report.replace(/^\[info\] (\d+) keys read$/m, (_line, keys: string) => `[info] ${Number(keys) + 1} keys read`);
      assert.equal(keysPerDatabase(oneKeyMore, inspector), undefined);
      const unknownOffset = report.replace(/^\[offset (\d+)\] Selecting DB ID 3$/m, (_line, offset: string) => `[offset ${Number(offset) + 1}] Selecting DB ID 3`);
      assert.equal(keysPerDatabase(unknownOffset, inspector), undefined);
    }
  });

  test('a truncated RDB is rejected', async () => {
    const whole = await readFile(backupPath);
    const truncatedPath = join(workDir, 'truncated.rdb');
    await writeFile(truncatedPath, whole.subarray(0, Math.floor(whole.length / 2)));
    await assert.rejects(inspectRdbFile(truncatedPath), (error: Error) => {
      assert.ok(error instanceof RdbError);
      assert.match(error.message, /truncated|checksum/);
      return true;
    });
  });

  test('one flipped byte is a checksum mismatch', async () => {
    const corrupted = Buffer.from(await readFile(backupPath));
    const middle = Math.floor(corrupted.length / 2);
    corrupted[middle] = corrupted[middle]! ^ 0x01;
    const corruptedPath = join(workDir, 'corrupted.rdb');
    await writeFile(corruptedPath, corrupted);
    await assert.rejects(inspectRdbFile(corruptedPath), (error: Error) => {
      assert.ok(error instanceof RdbError);
      assert.equal(error.name, 'RdbError');
      assert.match(error.message, /checksum mismatch: stored crc64 [0-9a-f]{16}, computed [0-9a-f]{16}/);
      return true;
    });
  });

  test('files that are not RDBs are rejected with a reason', async () => {
    const cases: Array<[string, Buffer, RegExp]> = [
      ['magic', Buffer.from('REDIX0010' + 'x'.repeat(20)), /not an RDB file/],
      ['version', Buffer.from('REDIS00a0' + 'x'.repeat(20)), /not 4 ASCII digits/],
      ['short', Buffer.from('REDIS0010\xff', 'latin1'), /too short/],
    ];
    for (const [name, content, expected] of cases) {
      const path = join(workDir, `bad-${name}.rdb`);
      await writeFile(path, content);
      await assert.rejects(inspectRdbFile(path), (error: Error) => error instanceof RdbError && expected.test(error.message));
    }
  });

  test('an abort destroys the transfer and rejects with the reason', async () => {
    const controller = new AbortController();
    const transfer = streamRdbFromServer({ url: diskless.url, receive: () => undefined, signal: controller.signal });
    controller.abort(new Error('operator cancelled'));
    await assert.rejects(transfer, /operator cancelled/);
  });
});

describe('authentication and refusals', () => {
  const password = 'p@ss:w/rd #1';
  let guarded: LocalRedis;

  before(async () => {
    guarded = await startServer('guarded', { port: await freePort(), password, extraArgs: FAST_SYNC });
    const client = clientFor(guarded, password);
    await client.set('guarded', 'yes');
    await client.call('ACL', 'SETUSER', 'nosync', 'on', '>nosync-secret', '~*', '&*', '+@all', '-sync', '-psync');
  });

  test('the password in the URL is decoded and used', async () => {
    assert.ok(guarded.url.includes(encodeURIComponent(password)));
    const path = join(workDir, 'guarded.rdb');
    await streamToFile(guarded.url, path);
    assert.equal((await inspectRdbFile(path)).checksum, 'ok');
  });

  test('a wrong password fails without revealing any password', async () => {
    const wrong = 'wrong-secret-123';
    await assert.rejects(
      streamRdbFromServer({ url: `redis://:${wrong}@127.0.0.1:${guarded.port}`, receive: () => undefined }),
      (error: Error) => {
        assert.ok(!(error instanceof ReplicationRefusedError));
        assert.match(error.message, /WRONGPASS/);
        assert.ok(!error.message.includes(wrong) && !error.message.includes(password), error.message);
        return true;
      },
    );
  });

  test('a user without +sync is refused replication', async () => {
    await assert.rejects(
      streamRdbFromServer({ url: `redis://nosync:nosync-secret@127.0.0.1:${guarded.port}`, receive: () => undefined }),
      (error: Error) => {
        assert.ok(error instanceof ReplicationRefusedError);
        assert.match(error.message, /refused replication.*NOPERM.*\+sync \+replconf/s);
        assert.ok(!error.message.includes('nosync-secret'));
        return true;
      },
    );
  });

  test('a server with SYNC disabled is refused replication', async () => {
    const locked = await startServer('locked', {
      port: await freePort(),
      extraArgs: ['--rename-command', 'SYNC', '', '--rename-command', 'PSYNC', ''],
    });
    await assert.rejects(streamRdbFromServer({ url: locked.url, receive: () => undefined }), (error: Error) => {
      assert.ok(error instanceof ReplicationRefusedError);
      assert.equal(error.name, 'ReplicationRefusedError');
      assert.match(error.message, /refused replication/);
      return true;
    });
  });
});

describe('restore by replication from the worker', () => {
  const progressSink = () => ({ signal: new AbortController().signal, phases: [] as string[], sent: 0, phase(name: string) { this.phases.push(name); }, bytes(n: number) { this.sent = n; } });
  let rdbPath: string;
  let sourceClient: Redis;

  before(async () => {
    const source = await startServer('replication-source', { port: await freePort(), extraArgs: FAST_SYNC });
    sourceClient = clientFor(source);
    await fillWithSampleData(sourceClient);
    // Expires after the RDB is taken and before it is restored: in the file, gone from the restored target.
    await sourceClient.set('ttl:short', 'soon gone', 'PX', 1500);
    rdbPath = join(workDir, 'replication-source.rdb');
    await streamToFile(source.url, rdbPath);
    await new Promise((resolve) => setTimeout(resolve, 1600));
  });

  test('the target loads the RDB from the worker: same keys, values and TTLs, expired keys gone, a master again', async () => {
    const target = await startServer('replication-target', { port: await freePort() });
    const targetClient = clientFor(target);
    await targetClient.set('not-in-the-set', 'x');
    await targetClient.select(7);
    await targetClient.set('other-db', 'x');
    await targetClient.select(0);
    const progress = progressSink();
    const replicated = await replicateIntoTarget(targetClient, (onChunk) => readFileChunks(rdbPath, onChunk), progress, { tls: false, marker: join(workDir, 'replicating-1.json') });
    const sourceCounts = await keyCountsPerDatabase(sourceClient);
    assert.deepEqual(replicated.loadedCounts, { ...sourceCounts, db0: sourceCounts.db0! + 1 }, 'while a replica the target held every key of the file');
    assert.deepEqual(replicated.counts, sourceCounts);
    assert.deepEqual(await keyCountsPerDatabase(targetClient), sourceCounts);
    assert.equal(await targetClient.get('not-in-the-set'), null);
    assert.equal(await targetClient.get('ttl:short'), null);
    assert.deepEqual(await snapshotOf(targetClient), await snapshotOf(sourceClient));
    await assertSameTtls(sourceClient, targetClient);
    assert.match(await targetClient.info('replication'), /^role:master\r?$/m);
    assert.equal(progress.sent, (await readFile(rdbPath)).length, 'every byte of the RDB was sent');
    assert.ok(progress.phases.includes('target loading the RDB (replication)'));
    await targetClient.set('writable', 'yes');
  });

  test('keys whose TTL has passed are dropped by a scan run in the server, or by the worker where scripts are refused: the target\'s own expiry is off', async () => {
    for (const scripts of [true, false]) {
      const target = await startServer(`replication-no-active-expire-${scripts}`, { port: await freePort(), extraArgs: ['--enable-debug-command', 'yes'] });
      const admin = clientFor(target);
      // Without this the server expires keys on its own, and the counts would not show whether the scan did.
      await admin.call('DEBUG', 'SET-ACTIVE-EXPIRE', '0');
      let client = admin;
      if (!scripts) {
        await admin.acl('SETUSER', 'noscripts', 'on', '>noscripts-pass', '~*', '&*', '+@all', '-@scripting');
        client = new Redis({ host: '127.0.0.1', port: target.port!, username: 'noscripts', password: 'noscripts-pass' });
        clients.push(client);
      }
      const replicated = await replicateIntoTarget(client, (onChunk) => readFileChunks(rdbPath, onChunk), progressSink(), {
        tls: false,
        marker: join(workDir, `replicating-expire-${scripts}.json`),
      });
      const sourceCounts = await keyCountsPerDatabase(sourceClient);
      assert.deepEqual(replicated.loadedCounts, { ...sourceCounts, db0: sourceCounts.db0! + 1 }, 'the expired key came with the file');
      assert.deepEqual(replicated.counts, sourceCounts, `scripts ${scripts ? 'allowed' : 'refused'}: the expired key is gone`);
      assert.deepEqual(await keyCountsPerDatabase(admin), sourceCounts);
      const stats = await admin.info('commandstats');
      const evalCalls = Number(/^cmdstat_eval:calls=(\d+)/m.exec(stats)?.[1] ?? 0);
      assert.equal(evalCalls > 0, scripts, scripts ? 'the scan ran in the server' : 'no script ran');
    }
  });

  test('a target whose user may not run REPLICAOF is left untouched, and says replication is unavailable', async () => {
    const target = await startServer('replication-refused', { port: await freePort() });
    const admin = clientFor(target);
    await admin.set('kept', 'yes');
    await admin.acl('SETUSER', 'limited', 'on', '>limited-pass', '~*', '+@all', '-replicaof');
    const limited = new Redis({ host: '127.0.0.1', port: target.port!, username: 'limited', password: 'limited-pass' });
    clients.push(limited);
    await assert.rejects(replicateIntoTarget(limited, (onChunk) => readFileChunks(rdbPath, onChunk), progressSink(), { tls: false, marker: join(workDir, 'replicating-2.json') }), (error: Error) => {
      assert.ok(error instanceof ReplicationUnavailable);
      assert.match(error.message, /^the target refused REPLICAOF: NOPERM/);
      return true;
    });
    assert.deepEqual(await keyCountsPerDatabase(admin), { db0: 1 });
    assert.match(await admin.info('replication'), /^role:master\r?$/m);
  });

  test('a target left replicating from a worker that died is released by the next attempt, and restored', async () => {
    const target = await startServer('replication-leftover', { port: await freePort() });
    const client = clientFor(target);
    const deadPort = await freePort();
    await client.call('REPLICAOF', '127.0.0.1', String(deadPort));
    const marker = join(workDir, 'replicating-leftover.json');
    await writeFile(marker, JSON.stringify({ host: '127.0.0.1', port: deadPort }));
    const replicated = await replicateIntoTarget(client, (onChunk) => readFileChunks(rdbPath, onChunk), progressSink(), { tls: false, marker });
    assert.deepEqual(replicated.counts, await keyCountsPerDatabase(sourceClient));
    assert.match(await client.info('replication'), /^role:master\r?$/m);
    await assert.rejects(readFile(marker), /ENOENT/, 'the marker is removed once the target is a master again');
  });

  test('cancelled mid-transfer: the target keeps its keys, stays marked, and the next attempt releases and restores it', async () => {
    const target = await startServer('replication-cancelled', { port: await freePort() });
    const client = clientFor(target);
    await client.set('kept', 'yes');
    const marker = join(workDir, 'replicating-cancelled.json');
    const head = (await readFile(rdbPath)).subarray(0, 1000);
    // Sends the first 1000 bytes of the RDB, then nothing: the transfer is under way when it is cancelled.
    const controller = new AbortController();
    const stalled = async (onChunk: ChunkConsumer) => {
      await onChunk(head);
      await once(controller.signal, 'abort');
    };
    const progress = { ...progressSink(), signal: controller.signal };
    const cancelled = replicateIntoTarget(client, stalled, progress, { tls: false, marker });
    while (progress.sent === 0) await new Promise((resolve) => setTimeout(resolve, 20));
    controller.abort(new Error('cancelled by the test'));
    await assert.rejects(cancelled, /cancelled by the test/);
    assert.equal(await client.get('kept'), 'yes', 'the end mark was never sent, so the target kept its data');
    assert.ok(JSON.parse(await readFile(marker, 'utf8')).port > 0, 'the marker names the address the target follows');
    const replicated = await replicateIntoTarget(client, (onChunk) => readFileChunks(rdbPath, onChunk), progressSink(), { tls: false, marker });
    assert.deepEqual(replicated.counts, await keyCountsPerDatabase(sourceClient));
    assert.match(await client.info('replication'), /^role:master\r?$/m);
  });

  test('a target that is itself a replica is not turned into ours', async () => {
    const target = await startServer('replication-replica', { port: await freePort(), extraArgs: ['--replicaof', '127.0.0.1', '1'] });
    const client = clientFor(target);
    await assert.rejects(replicateIntoTarget(client, (onChunk) => readFileChunks(rdbPath, onChunk), progressSink(), { tls: false, marker: join(workDir, 'replicating-3.json') }), /the target is a slave, not a master/);
    assert.match(await client.info('replication'), /^master_port:1\r?$/m, 'still a replica of its own master');
  });

  test('a damaged file never reaches the target: the transfer stops before its end mark and the target keeps its keys', async () => {
    const target = await startServer('replication-bad-file', { port: await freePort() });
    const client = clientFor(target);
    await client.set('kept', 'yes');
    const broken = join(workDir, 'broken.rdb');
    const bytes = Buffer.from(await readFile(rdbPath));
    bytes[Math.floor(bytes.length / 2)]! ^= 0xff;
    await writeFile(broken, bytes);
    await assert.rejects(
      replicateIntoTarget(client, (onChunk) => readFileChunks(broken, onChunk), progressSink(), { tls: false, marker: join(workDir, 'replicating-4.json') }),
      (error: Error) => !(error instanceof ReplicationUnavailable) && /sending the RDB failed: .*checksum/i.test(error.message),
    );
    assert.equal(await client.get('kept'), 'yes');
    assert.deepEqual(await keyCountsPerDatabase(client), { db0: 1 });
    assert.match(await client.info('replication'), /^role:master\r?$/m);
  });
});
