/**
 * The Redis deep check (`verify`) against a real `redis-server`'s RDB and the real `redis-check-rdb`,
 * `zstd` and `gzip`: it counts the keys of every database, and refuses a file whose RDB is damaged
 * although the set's checksums (which the test does not involve) would match, or whose compressed
 * stream is cut. It leaves no plaintext copy in BACKUP_DIR.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Logger } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { Redis } from 'ioredis';
import { loadConfig } from '../core/config';
import type { FileEntry } from '../core/manifest';
import { withProgress } from '../activities/heartbeat';
import { startLocalRedis, type LocalRedis } from '../activities/redis/local-server';
import { verify } from '../activities/redis/verify';
import { VerificationFailed } from '../activities/repository/errors';
import { freePort } from '../devstack/ports';

const quiet: Logger = { log() {}, trace() {}, debug() {}, info() {}, warn() {}, error() {} };
const SET = 'scholaria_backup_20261207_040000';
const KEYS = { db0: 3000, db3: 500 };

let dir: string;
let server: LocalRedis;
let rdb: Buffer;

function verifyFile(fileName: string, content: Buffer): Promise<Awaited<ReturnType<typeof verify>>> {
  const backupDir = join(dir, `backups-${fileName}`);
  rmSync(backupDir, { recursive: true, force: true });
  mkdirSync(join(backupDir, SET), { recursive: true });
  writeFileSync(join(backupDir, SET, fileName), content);
  const config = loadConfig({ BACKUP_DIR: backupDir, LOG_DIR: join(dir, 'logs'), REDIS_URL: server.url });
  const files: FileEntry[] = [{ name: fileName, bytes: content.length, sha256: 'not read by the deep check', role: 'rdb' }];
  return new MockActivityEnvironment({}, { logger: quiet }).run(() =>
    withProgress((progress) => verify(config, { setName: SET, location: 'sealed', files, tier: 'daily' }, progress)),
  );
}

function compressed(program: 'zstd' | 'gzip', content: Buffer): Buffer {
  return execFileSync(program, ['-c', '-q'], { input: content, maxBuffer: 1 << 30 });
}

/** Everything left under a BACKUP_DIR after a check, apart from the set's own folder. */
function leftovers(fileName: string): string[] {
  const backupDir = join(dir, `backups-${fileName}`);
  return readdirSync(backupDir, { recursive: true, encoding: 'utf8' }).filter((path) => !path.startsWith(SET));
}

describe('the Redis deep check', () => {
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'scholaria-redis-verify-'));
    server = await startLocalRedis({ dir: join(dir, 'server'), port: await freePort() });
    const client = new Redis(server.url);
    try {
      for (const [db, count] of Object.entries(KEYS)) {
        await client.select(Number(db.slice(2)));
        const batch = client.pipeline();
        for (let index = 0; index < count; index++) batch.set(`${db}:key:${index}`, `value ${index} `.repeat(20), 'EX', 86_400);
        await batch.exec();
      }
      await client.save();
    } finally {
      client.disconnect();
    }
    rdb = readFileSync(join(dir, 'server', 'dump.rdb'));
  });

  after(async () => {
    await server?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  for (const program of ['zstd', 'gzip'] as const) {
    test(`counts the keys of every database of a ${program} RDB, read to its end by redis-check-rdb, and leaves no plaintext behind`, async () => {
      const name = `redis_${SET.slice(-15)}.rdb.${program === 'zstd' ? 'zst' : 'gz'}`;
      const result = await verifyFile(name, compressed(program, rdb));
      assert.deepEqual(result.summary, { unit: 'keys', counts: KEYS });
      assert.match(result.checks.join('\n'), /redis-check-rdb read every key/);
      assert.deepEqual(leftovers(name).filter((path) => path.endsWith('.rdb')), []);
    });
  }

  test('refuses an RDB with one byte changed inside a value: redis-check-rdb finds the CRC-64 wrong', async () => {
    const damaged = Buffer.from(rdb);
    const at = damaged.indexOf('value 7 ', damaged.length / 2);
    assert.ok(at > 0);
    damaged[at] = 'V'.charCodeAt(0);
    const name = `redis_${SET.slice(-15)}.rdb.zst`;
    await assert.rejects(verifyFile(name, compressed('zstd', damaged)), (error: Error) => {
      assert.ok(error instanceof VerificationFailed, `${error.name}: ${error.message}`);
      assert.match(error.message, new RegExp(`^${name.replace(/\./g, '\\.')}: redis-check-rdb rejects the RDB .*RDB CRC error`));
      return true;
    });
  });

  test('refuses a compressed file cut short, with the decompressor\'s reason', async () => {
    const whole = compressed('zstd', rdb);
    const name = `redis_${SET.slice(-15)}.rdb.zst`;
    await assert.rejects(verifyFile(name, whole.subarray(0, Math.floor(whole.length * 0.6))), (error: Error) => {
      assert.ok(error instanceof VerificationFailed, `${error.name}: ${error.message}`);
      assert.match(error.message, /zstd exited with code \d+: .*premature end/);
      return true;
    });
    assert.ok(!existsSync(join(dir, `backups-${name}`, '.tmp')) || readdirSync(join(dir, `backups-${name}`, '.tmp')).length === 0);
  });
});
