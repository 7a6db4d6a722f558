/**
 * Encrypted Redis sets, end to end on real servers and the real `age` binary: the Redis adapter's
 * verbs (backup, verify, preflight, safety snapshot, restore) run as they run in the worker, inside a
 * Temporal activity context (`MockActivityEnvironment` provides the context only: heartbeats and
 * cancellation; everything the activities do is real), and the set is sealed by the repository.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { cpSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Logger } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { Redis } from 'ioredis';
import { loadConfig, type Config } from '../core/config';
import type { StoreRecord } from '../core/manifest';
import { CHECKSUMS_FILE, MANIFEST_FILE } from '../core/manifest';
import { startLocalRedis, type LocalRedis } from '../activities/redis/local-server';
import { backup } from '../activities/redis/backup';
import { verify } from '../activities/redis/verify';
import { preflight } from '../activities/redis/preflight';
import { safetySnapshot } from '../activities/redis/safety';
import { restore } from '../activities/redis/restore';
import { withProgress } from '../activities/heartbeat';
import { checkEncryptedFilesOpen, checkSetDecrypts, requireIdentityForFiles, setEncryptionOf } from '../activities/encryption';
import { exposureWarnings, modesUnderBackupDir } from '../activities/file-modes';
import { readManifest, sealSet, stageSet, verifySetChecksums } from '../activities/repository/sets';
import { freePort } from '../devstack/ports';
import { redisDifferences, redisFingerprint } from './support/fingerprints';
import { runCli, scratchDir, startWorker, temporalAddress } from './support/stack';

const quiet: Logger = { log() {}, trace() {}, debug() {}, info() {}, warn() {}, error() {} };
const TOOL = { name: 'scholaria-backup', version: 'test' };

let dir: string;
let source: LocalRedis;
let target: LocalRedis;
/** Random, so it cannot be compressed away: found in the plaintext RDB, never in the set. */
const canary = `canary-${randomBytes(8).toString('hex')}`;
const keys = { age: { recipient: '', identityFile: '' }, other: { identityFile: '' }, ssh: { recipient: '', identityFile: '' } };

/** Runs an activity implementation with a progress reporter, inside a Temporal activity context. */
function activity<T>(work: (progress: Parameters<Parameters<typeof withProgress>[0]>[0]) => Promise<T>): Promise<T> {
  return new MockActivityEnvironment({}, { logger: quiet }).run(() => withProgress(work));
}

function configFor(backupDir: string, env: Record<string, string> = {}): Config {
  return loadConfig({ BACKUP_DIR: backupDir, LOG_DIR: join(dir, 'logs'), REDIS_URL: source.url, ...env });
}

function ageKeyPair(name: string): { recipient: string; identityFile: string } {
  const identityFile = join(dir, `${name}.txt`);
  execFileSync('age-keygen', ['-o', identityFile], { stdio: 'ignore' });
  return { recipient: execFileSync('age-keygen', ['-y', identityFile], { encoding: 'utf8' }).trim(), identityFile };
}

async function fill(url: string): Promise<void> {
  const redis = new Redis(url);
  try {
    const pipeline = redis.pipeline();
    for (let i = 0; i < 300; i++) pipeline.set(`session:${i}`, `user-${i}`, 'EX', 3600 + i);
    pipeline.hset('profile:1', { name: 'Ada', secret: canary });
    pipeline.rpush('queue', 'a', 'b', 'c');
    pipeline.select(2).set('db2:flag', 'on').select(0);
    await pipeline.exec();
  } finally {
    redis.disconnect();
  }
}

async function setTarget(content: Record<string, string>): Promise<void> {
  const redis = new Redis(target.url);
  try {
    await redis.flushall();
    for (const [key, value] of Object.entries(content)) await redis.set(key, value);
  } finally {
    redis.disconnect();
  }
}

/** A sealed set of the source, written with `config`; its Redis record as the manifest has it. */
async function backUp(config: Config): Promise<{ name: string; path: string; record: Extract<StoreRecord, { status: 'ok' }> }> {
  const set = await stageSet(config.backupDir, 'daily', new Date());
  const result = await activity((progress) => backup(config, set, progress));
  // As the backup workflow does: a backup that checked its files while writing them needs no read-back.
  const verified =
    result.summary && result.checks
      ? { summary: result.summary, checks: result.checks }
      : await activity((progress) => verify(config, { setName: set.name, location: 'staging', files: result.files, tier: 'daily' }, progress));
  const record = { status: 'ok' as const, serverVersion: result.serverVersion, files: result.files, summary: verified.summary, checks: verified.checks, notes: result.notes, phases: result.phases };
  const sealed = await sealSet(
    config.backupDir,
    { set, stores: { redis: record }, startedAt: new Date().toISOString(), workflow: { id: 'test', runId: 'test' } },
    TOOL,
    await setEncryptionOf(config),
  );
  return { name: sealed.name, path: sealed.path, record };
}

function everyFileUnder(root: string): string[] {
  return readdirSync(root, { recursive: true, withFileTypes: true }).filter((entry) => entry.isFile()).map((entry) => join(entry.parentPath, entry.name));
}

before(async () => {
  dir = scratchDir('encryption-redis');
  source = await startLocalRedis({ dir: join(dir, 'source'), port: await freePort(), extraArgs: ['--repl-diskless-sync-delay', '0'] });
  target = await startLocalRedis({ dir: join(dir, 'target'), port: await freePort(), extraArgs: ['--repl-diskless-sync-delay', '0'] });
  await fill(source.url);
  keys.age = ageKeyPair('identity');
  keys.other = ageKeyPair('other-identity');
  const sshKey = join(dir, 'id_ed25519');
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'restore@ops', '-f', sshKey]);
  keys.ssh = { recipient: readFileSync(`${sshKey}.pub`, 'utf8').trim(), identityFile: sshKey };
});

after(async () => {
  await source?.stop();
  await target?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('an encrypted Redis set', () => {
  let backupDir: string;
  let writer: Config;
  let restorer: Config;
  let set: Awaited<ReturnType<typeof backUp>>;
  let previousUmask: number;

  before(async () => {
    backupDir = join(dir, 'backup');
    // Whatever umask the process inherited, what the repository creates is owner-only.
    previousUmask = process.umask(0);
    writer = configFor(backupDir, { BACKUP_ENCRYPTION_RECIPIENTS: keys.age.recipient });
    restorer = configFor(backupDir, { BACKUP_ENCRYPTION_IDENTITY_FILE: keys.age.identityFile });
    set = await backUp(writer);
  });
  after(() => process.umask(previousUmask));

  test('is compressed, then encrypted: `age -d` gives an RDB that redis-check-rdb accepts; SHA256SUMS covers the ciphertext', async () => {
    const file = set.record.files[0]!;
    assert.match(file.name, /^redis_\d{8}_\d{6}\.rdb\.gz\.age$/);
    const stored = join(set.path, file.name);
    assert.equal(readFileSync(stored).subarray(0, 21).toString('latin1'), 'age-encryption.org/v1');
    const rdb = join(dir, 'decrypted.rdb');
    execFileSync('sh', ['-c', 'age -d -i "$1" "$2" | gunzip > "$3"', 'sh', keys.age.identityFile, stored, rdb]);
    execFileSync('redis-check-rdb', [rdb], { stdio: 'ignore' });
    assert.ok(readFileSync(rdb).includes(canary), 'the plaintext RDB holds the value');
    execFileSync('sha256sum', ['-c', CHECKSUMS_FILE], { cwd: set.path, stdio: 'ignore' });
    assert.deepEqual(set.record.summary, { unit: 'keys', counts: { db0: 302, db2: 1 } });
    assert.match(set.record.checks.join('\n'), /encrypted with age to 1 recipient; checked on the plaintext before encryption/);
    assert.match(set.record.checks.join('\n'), /redis-check-rdb read every key/);
    const manifest = await readManifest(set.path);
    assert.deepEqual(manifest.encryption, { format: 'age', recipients: [keys.age.recipient] });
    assert.deepEqual(await verifySetChecksums(backupDir, set.name), { filesChecked: 1, bytesChecked: file.bytes });
  });

  test('no value of the store appears anywhere under BACKUP_DIR', () => {
    const files = everyFileUnder(backupDir);
    assert.ok(files.length >= 3, files.join(', '));
    for (const path of files) assert.ok(!readFileSync(path).includes(canary), `${path} holds a value in plaintext`);
    assert.equal(spawnSync('grep', ['-r', '-a', '-l', canary, backupDir]).status, 1, 'grep finds nothing');
  });

  test('folders and files are owner-only with umask 000, and health-check has nothing to warn about', async () => {
    for (const path of [backupDir, join(backupDir, '.partial'), set.path]) assert.equal(statSync(path).mode & 0o777, 0o700, path);
    for (const path of everyFileUnder(set.path)) assert.equal(statSync(path).mode & 0o777, 0o600, path);
    assert.deepEqual(exposureWarnings(await modesUnderBackupDir(backupDir)), []);
  });

  test('with the identity: the deep check decrypts, checks and loads it; preflight reads its header', async () => {
    const input = { setName: set.name, location: 'sealed' as const, files: set.record.files, tier: 'daily' as const };
    const verified = await activity((progress) => verify(restorer, input, progress));
    assert.deepEqual(verified.summary, set.record.summary);
    assert.match(verified.checks.join('\n'), /decrypted with BACKUP_ENCRYPTION_IDENTITY_FILE, every age chunk authenticated/);
    assert.deepEqual(await checkSetDecrypts(restorer, set.name), [
      `${set.record.files[0]!.name}: decrypted to its end with BACKUP_ENCRYPTION_IDENTITY_FILE, every chunk authenticated`,
    ]);
    const report = await activity((progress) => preflight(restorer, { restoreId: 'pre1', setName: set.name, files: set.record.files, summary: set.record.summary, serverVersion: set.record.serverVersion }, progress));
    assert.deepEqual(report.problems, []);
    assert.match(report.details[0]!, /set: RDB version \d+/);
  });

  test('restores keys, values and TTLs equal to the source; the safety snapshot is encrypted and owner-only too', async () => {
    await setTarget({ 'old:key': 'before the restore' });
    const restoreConfig = loadConfig({
      BACKUP_DIR: backupDir,
      LOG_DIR: join(dir, 'logs'),
      REDIS_URL: target.url,
      BACKUP_ENCRYPTION_RECIPIENTS: keys.age.recipient,
      BACKUP_ENCRYPTION_IDENTITY_FILE: keys.age.identityFile,
    });
    const source_ = { restoreId: 'r1', setName: set.name, files: set.record.files, summary: set.record.summary, serverVersion: set.record.serverVersion };
    const safety = await activity((progress) => safetySnapshot(restoreConfig, source_, progress));
    // zstd -1 for a file that lives minutes, encrypted like the sets.
    assert.match(safety.references.file!, /redis-before-restore\.rdb\.zst\.age$/);
    assert.equal(statSync(safety.references.file!).mode & 0o777, 0o600);
    for (const path of [join(backupDir, '.safety'), join(backupDir, '.safety', 'r1'), join(backupDir, '.safety', 'r1', 'redis')]) {
      assert.equal(statSync(path).mode & 0o777, 0o700, path);
    }
    assert.ok(!readFileSync(safety.references.file!).includes('before the restore'));
    await activity((progress) => restore(restoreConfig, { ...source_, safety, force: false }, progress));
    const restored = await redisFingerprint(target.url);
    assert.deepEqual(redisDifferences(await redisFingerprint(source.url), restored, 5), []);
    assert.equal(restored['db0:profile:1']?.value, JSON.stringify([['name', 'Ada'], ['secret', canary]]));
  });

  test('without the identity: checksums pass; the deep check and the restore refuse at once naming BACKUP_ENCRYPTION_IDENTITY_FILE, the target untouched', async () => {
    const keyless = configFor(backupDir);
    await verifySetChecksums(backupDir, set.name);
    const name = set.record.files[0]!.name;
    const refusal = (error: Error) => {
      assert.equal(error.name, 'ApplicationFailure');
      assert.equal((error as Error & { type?: string; nonRetryable?: boolean }).type, 'EncryptionIdentityMissing');
      assert.equal((error as Error & { nonRetryable?: boolean }).nonRetryable, true);
      assert.equal(error.message, `${name} is encrypted with age; set BACKUP_ENCRYPTION_IDENTITY_FILE on the worker to the file holding the identity (private key) that opens it`);
      return true;
    };
    await assert.rejects(activity((progress) => verify(keyless, { setName: set.name, location: 'sealed', files: set.record.files, tier: 'daily' }, progress)), refusal);
    assert.throws(() => requireIdentityForFiles(keyless, [name]), refusal);
    await assert.rejects(checkSetDecrypts(keyless, set.name), refusal);
    await setTarget({ 'kept:key': 'untouched' });
    const before = await redisFingerprint(target.url);
    const targetConfig = loadConfig({ BACKUP_DIR: backupDir, LOG_DIR: join(dir, 'logs'), REDIS_URL: target.url });
    const source_ = { restoreId: 'r2', setName: set.name, files: set.record.files, summary: set.record.summary, serverVersion: set.record.serverVersion };
    await assert.rejects(activity((progress) => preflight(targetConfig, source_, progress)), refusal);
    await assert.rejects(activity((progress) => restore(targetConfig, { ...source_, safety: { description: '', references: {} }, force: false }, progress)), refusal);
    assert.deepEqual(await redisFingerprint(target.url), before);
  });

  test('a wrong identity is refused, naming the file and age\'s reason', async () => {
    const wrong = configFor(backupDir, { BACKUP_ENCRYPTION_IDENTITY_FILE: keys.other.identityFile });
    const name = set.record.files[0]!.name;
    await assert.rejects(checkEncryptedFilesOpen(wrong, set.path, [name]), {
      name: 'VerificationFailed',
      message: `${name} cannot be decrypted with BACKUP_ENCRYPTION_IDENTITY_FILE: age exited with code 1: age: error: no identity matched any of the recipients`,
    });
    await assert.rejects(activity((progress) => verify(wrong, { setName: set.name, location: 'sealed', files: set.record.files, tier: 'daily' }, progress)), (error: Error) => {
      assert.equal(error.name, 'VerificationFailed');
      assert.match(error.message, new RegExp(`^${name.replace(/\./g, '\\.')}: age exited with code 1: age: error: no identity matched any of the recipients$`));
      return true;
    });
  });

  test('a flipped byte inside the ciphertext, SHA256SUMS rewritten to match, passes the checksums and is refused by age, naming the file', async () => {
    const tamperedDir = join(dir, 'tampered');
    mkdirSync(tamperedDir, { mode: 0o700 });
    const copy = join(tamperedDir, set.name);
    cpSync(set.path, copy, { recursive: true });
    const file = set.record.files[0]!;
    const path = join(copy, file.name);
    const bytes = readFileSync(path);
    const middle = Math.floor(bytes.length / 2);
    bytes[middle] = bytes[middle]! ^ 0x01;
    writeFileSync(path, bytes);
    const sha256 = execFileSync('sha256sum', [path], { encoding: 'utf8' }).split(' ')[0]!;
    for (const listing of [CHECKSUMS_FILE, MANIFEST_FILE]) writeFileSync(join(copy, listing), readFileSync(join(copy, listing), 'utf8').replaceAll(file.sha256, sha256));
    const config = configFor(tamperedDir, { BACKUP_ENCRYPTION_IDENTITY_FILE: keys.age.identityFile });
    await verifySetChecksums(tamperedDir, set.name);
    await assert.rejects(checkSetDecrypts(config, set.name), {
      name: 'VerificationFailed',
      message: `${file.name} cannot be decrypted with BACKUP_ENCRYPTION_IDENTITY_FILE: age exited with code 1: age: error: failed to decrypt and authenticate payload chunk`,
    });
    await assert.rejects(activity((progress) => verify(config, { setName: set.name, location: 'sealed', files: [{ ...file, sha256 }], tier: 'daily' }, progress)), (error: Error) => {
      assert.equal(error.name, 'VerificationFailed');
      assert.match(error.message, /failed to decrypt and authenticate payload chunk/);
      assert.ok(error.message.startsWith(`${file.name}: `));
      return true;
    });
  });
});

describe('a restore through the CLI and the restore workflow (real Temporal dev server and worker)', () => {
  let backupDir: string;
  let set: Awaited<ReturnType<typeof backUp>>;

  before(async () => {
    backupDir = join(dir, 'backup-workflow');
    set = await backUp(configFor(backupDir, { BACKUP_ENCRYPTION_RECIPIENTS: keys.age.recipient }));
  });

  /** Restores the set into the target with a worker whose identity is `identityFile` (none when undefined). */
  async function restoreWith(identityFile: string | undefined, queue: string): Promise<{ code: number; output: string }> {
    const env: Record<string, string> = {
      PATH: process.env.PATH!,
      HOME: process.env.HOME!,
      BACKUP_DIR: backupDir,
      LOG_DIR: join(dir, 'logs'),
      LOG_LEVEL: 'warn',
      REDIS_URL: target.url,
      BACKUP_COMPONENTS: 'redis',
      BACKUP_APPLY_SCHEDULES: 'false',
      TEMPORAL_ADDRESS: temporalAddress(),
      TEMPORAL_TASK_QUEUE: `encryption-${queue}-${process.pid}`,
      ...(process.env.BACKUP_WORKFLOW_BUNDLE ? { BACKUP_WORKFLOW_BUNDLE: process.env.BACKUP_WORKFLOW_BUNDLE } : {}),
      ...(identityFile ? { BACKUP_ENCRYPTION_IDENTITY_FILE: identityFile } : {}),
    };
    const worker = await startWorker(env);
    try {
      const result = await runCli(['restore', set.name, '--component', 'redis', '--yes'], env);
      return { code: result.code, output: result.stdout + result.stderr };
    } finally {
      await worker.stop();
    }
  }

  test('without the identity: refused naming BACKUP_ENCRYPTION_IDENTITY_FILE, target untouched, no safety snapshot taken', async () => {
    await setTarget({ 'kept:key': 'untouched' });
    const before = await redisFingerprint(target.url);
    const result = await restoreWith(undefined, 'no-identity');
    assert.notEqual(result.code, 0, result.output);
    assert.match(result.output, /is encrypted with age; set BACKUP_ENCRYPTION_IDENTITY_FILE on the worker/);
    const errorLines = result.output.split('\n').filter((line) => line.startsWith('scholaria-backup:'));
    assert.equal(errorLines.length, 1, result.output);
    assert.deepEqual(await redisFingerprint(target.url), before);
    assert.equal(spawnSync('find', [backupDir, '-path', '*/.safety/*', '-type', 'f']).stdout.toString(), '');
  });

  test('with a wrong identity: refused naming the file and age\'s reason, target untouched', async () => {
    await setTarget({ 'kept:key': 'untouched' });
    const before = await redisFingerprint(target.url);
    const result = await restoreWith(keys.other.identityFile, 'wrong-identity');
    assert.notEqual(result.code, 0, result.output);
    // Refused by the restore's decryption step (checkSetDecrypts), after the checksums and before any preflight.
    assert.match(result.output, new RegExp(`${set.record.files[0]!.name.replace(/\./g, '\\.')} cannot be decrypted with BACKUP_ENCRYPTION_IDENTITY_FILE: age exited with code 1: age: error: no identity matched any of the recipients`));
    assert.deepEqual(await redisFingerprint(target.url), before);
  });

  test('with the identity: the target holds the source\'s keys, values and TTLs', async () => {
    await setTarget({ 'old:key': 'replaced' });
    const result = await restoreWith(keys.age.identityFile, 'identity');
    assert.equal(result.code, 0, result.output);
    assert.deepEqual(redisDifferences(await redisFingerprint(source.url), await redisFingerprint(target.url), 30), []);
  });
});

describe('an ssh-ed25519 recipient', () => {
  test('encrypts a set that its OpenSSH private key opens, with age and with the deep check', async () => {
    const backupDir = join(dir, 'backup-ssh');
    const set = await backUp(configFor(backupDir, { BACKUP_ENCRYPTION_RECIPIENTS: keys.ssh.recipient, BACKUP_ENCRYPTION_IDENTITY_FILE: keys.ssh.identityFile }));
    assert.deepEqual((await readManifest(set.path)).encryption, { format: 'age', recipients: [keys.ssh.recipient] });
    const stored = join(set.path, set.record.files[0]!.name);
    const rdb = join(dir, 'ssh-decrypted.rdb');
    execFileSync('sh', ['-c', 'age -d -i "$1" "$2" | gunzip > "$3"', 'sh', keys.ssh.identityFile, stored, rdb]);
    execFileSync('redis-check-rdb', [rdb], { stdio: 'ignore' });
    assert.equal(set.record.summary.counts.db0, 302);
  });
});

describe('BACKUP_FILE_GROUP_READ=true', () => {
  test('with the process umask applied at start, a set is readable by the group, never by others', async () => {
    const { applyFileModes } = await import('../activities/file-modes');
    const previous = process.umask();
    try {
      const config = configFor(join(dir, 'backup-group'), { BACKUP_FILE_GROUP_READ: 'true', BACKUP_COMPRESSION: 'zstd', BACKUP_ENCRYPTION_RECIPIENTS: keys.age.recipient, BACKUP_ENCRYPTION_IDENTITY_FILE: keys.age.identityFile });
      process.umask(0);
      assert.deepEqual(applyFileModes(config), { directory: 0o750, file: 0o640, umask: 0o027 });
      assert.equal(process.umask(), 0o027);
      const set = await backUp(config);
      assert.match(set.record.files[0]!.name, /\.rdb\.zst\.age$/);
      assert.equal(statSync(set.path).mode & 0o777, 0o750);
      for (const path of everyFileUnder(set.path)) assert.equal(statSync(path).mode & 0o777, 0o640, path);
      assert.deepEqual(exposureWarnings(await modesUnderBackupDir(config.backupDir)), []);
    } finally {
      applyFileModes({ groupRead: false });
      process.umask(previous);
    }
  });
});
