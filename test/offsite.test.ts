/**
 * The offsite repository against a real S3 server: a private `rclone serve s3`, or the bucket named by
 * OFFSITE_TEST_URL with the environment's AWS credentials (see test/support/offsite.ts). The functions
 * are called as activities in a mock activity context (heartbeats, cancellation, retry details).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { DeleteObjectCommand, GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import type { Logger } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { createOffsiteActivities } from '../activities/offsite';
import { verifySetChecksums } from '../activities/repository/sets';
import { loadConfig } from '../core/config';
import { CHECKSUMS_FILE, MANIFEST_FILE } from '../core/manifest';
import { parseBandwidth, parseOffsiteUrl, type CopyCheckpoint } from '../core/offsite';
import { activityInterceptors } from '../worker/activity-interceptor';
import { renderMetrics } from '../worker/metrics';
import { run, scratchDir } from './support/stack';
import { offsiteConfig, startOffsiteTarget, writeSealedSet, type OffsiteTarget } from './support/offsite';

const MiB = 1024 * 1024;
const quiet: Logger = { log() {}, trace() {}, debug() {}, info() {}, warn() {}, error() {} };
const scratch = scratchDir('offsite');
let target: OffsiteTarget;
let dirs = 0;
const freshDir = (name: string) => {
  const dir = join(scratch, `${name}-${++dirs}`);
  mkdirSync(dir, { recursive: true });
  return dir;
};
/** Set times one second apart, so sets of different tests never share a name; recent, so retention keeps them. */
let clock = Math.floor(Date.now() / 1000) * 1000 - 3_600_000;
const nextTime = () => new Date((clock += 1000));

before(async () => {
  target = await startOffsiteTarget();
});
after(async () => {
  await target?.remove();
});

function activities(backupDir: string, extra: Record<string, string> = {}) {
  return createOffsiteActivities(offsiteConfig(target, backupDir, extra));
}

async function objectBytes(key: string): Promise<Buffer> {
  const response = await target.s3.send(new GetObjectCommand({ Bucket: target.bucket, Key: `${target.prefix}/${key}` }));
  return Buffer.from(await response.Body!.transformToByteArray());
}

function mock(info: ConstructorParameters<typeof MockActivityEnvironment>[0] = {}) {
  return new MockActivityEnvironment(info, { logger: quiet });
}

/** Runs an activity in a mock activity context (heartbeats, cancellation, the previous attempt's details). */
function runIn<A extends unknown[], R>(environment: MockActivityEnvironment, fn: (...args: A) => Promise<R>, ...args: A): Promise<R> {
  return environment.run(fn, ...args);
}

test('settings: BACKUP_OFFSITE_URL, BWLIMIT and per-tier retention defaulting to the local one; no credentials in the config', () => {
  const config = loadConfig({
    BACKUP_OFFSITE_URL: 's3://scholaria-backups/prod/eu',
    BACKUP_OFFSITE_ENDPOINT: 'http://minio:9000/',
    BACKUP_OFFSITE_BWLIMIT: '20M',
    BACKUP_WEEKLY_RETENTION: '40',
    BACKUP_OFFSITE_MONTHLY_RETENTION: '730',
    AWS_ACCESS_KEY_ID: 'AKIAEXAMPLEKEY123',
    AWS_SECRET_ACCESS_KEY: 'secret-never-in-config',
  });
  assert.deepEqual(config.offsite, {
    bucket: 'scholaria-backups',
    prefix: 'prod/eu',
    endpoint: 'http://minio:9000',
    region: 'us-east-1',
    forcePathStyle: true,
    bandwidthBytesPerSecond: 20 * MiB,
    retentionDays: { daily: 7, weekly: 40, monthly: 730 },
  });
  assert.ok(!JSON.stringify(config).includes('secret-never-in-config'));
  assert.equal(loadConfig({}).offsite, undefined);
  assert.equal(loadConfig({ BACKUP_OFFSITE_URL: 's3://bucket' }).offsite?.forcePathStyle, false);
  assert.throws(() => loadConfig({ BACKUP_OFFSITE_URL: 'https://bucket/x' }), /BACKUP_OFFSITE_URL must be s3:\/\/bucket/);
  assert.throws(() => loadConfig({ BACKUP_OFFSITE_URL: 's3://bkt/x', BACKUP_OFFSITE_BWLIMIT: 'fast' }), /BACKUP_OFFSITE_BWLIMIT must be bytes per second/);
  assert.throws(() => loadConfig({ BACKUP_OFFSITE_BWLIMIT: '1M' }), /BACKUP_OFFSITE_BWLIMIT is set but BACKUP_OFFSITE_URL is not/);
  assert.throws(() => loadConfig({ BACKUP_OFFSITE_URL: 's3://bkt/x', BACKUP_OFFSITE_DAILY_RETENTION: '0' }), /BACKUP_OFFSITE_DAILY_RETENTION must be at least 1 day/);
  assert.equal(parseBandwidth('512K'), 512 * 1024);
  assert.equal(parseBandwidth('1.5M'), 1.5 * MiB);
  assert.deepEqual(parseOffsiteUrl('s3://bucket-1/a/b/'), { bucket: 'bucket-1', prefix: 'a/b' });
  assert.throws(() => parseOffsiteUrl('s3://bucket/../x'), /\.\./);
});

test('copy: every file byte-equal in the bucket, SHA256SUMS checks out after download, and the manifest appears last', async () => {
  const backupDir = freshDir('copy');
  const set = await writeSealedSet(backupDir, nextTime(), [30 * MiB + 123, 2 * MiB, 777]);
  const offsite = activities(backupDir, { BACKUP_OFFSITE_BWLIMIT: '24M' });

  // Watched as a user with `aws s3 ls` would see it while the copy runs: whenever the manifest is
  // there, every other file of the set is there whole.
  const seen: string[] = [];
  let watching = true;
  const watcher = (async () => {
    while (watching) {
      const keys = await target.keys();
      if (keys.has(`${set.name}/${MANIFEST_FILE}`)) {
        for (const file of set.files) assert.equal(keys.get(`${set.name}/${file.name}`), file.bytes, `${file.name} whole before the manifest`);
        assert.ok(keys.has(`${set.name}/${CHECKSUMS_FILE}`), 'SHA256SUMS before the manifest');
        seen.push('manifest');
      } else if ([...keys.keys()].some((key) => key.startsWith(`${set.name}/`))) {
        seen.push('partial');
      }
      await new Promise((resolve) => setTimeout(resolve, 30));
    }
  })();
  const result = await runIn(mock(), offsite.copySetOffsite, { setName: set.name });
  watching = false;
  await watcher;
  assert.ok(seen.includes('partial'), 'the copy was watched while it ran');
  assert.equal(result.objects, 5);
  assert.equal(result.bytesSent, result.bytes);
  assert.deepEqual(result.resumed, { files: 0, parts: 0 });
  // rclone ignores the SHA-256 a client sends but checks Content-MD5 and answers the MD5 it received as
  // the ETag (of each object, part, and S3's composite of a multipart object): no read-back is needed.
  if (target.server) assert.equal(result.checkedBy, 'server-md5');

  const download = freshDir('download-by-hand');
  for (const name of [...set.files.map((file) => file.name), CHECKSUMS_FILE, MANIFEST_FILE]) {
    const local = readFileSync(join(set.path, name));
    const remote = await objectBytes(`${set.name}/${name}`);
    assert.ok(local.equals(remote), `${name} byte-equal offsite`);
    mkdirSync(join(download, name, '..'), { recursive: true });
    writeFileSync(join(download, name), remote);
  }
  assert.match(run('sha256sum', ['-c', CHECKSUMS_FILE], { cwd: download }), /qdrant_snapshot.tar.gz: OK/);
  assert.deepEqual(await target.uploads(), [], 'no multipart upload left');

  const listed = (await runIn(mock(), offsite.listOffsiteSets)).find((entry) => entry.name === set.name);
  assert.equal(listed?.status, 'complete');
  assert.equal(listed?.tier, 'daily');
  assert.ok(listed!.bytes > 32 * MiB && listed!.objects === 5 && listed!.copiedAt, `listed with sizes and record: ${JSON.stringify(listed)}`);
  assert.ok(!(await target.keys()).has(`${set.name}/offsite.json`), 'the record is kept beside the set, not in it');
});

test('a worker killed mid multipart upload: the retry resumes from the heartbeated upload id and parts; one set, no orphaned upload', async () => {
  const backupDir = freshDir('resume');
  const set = await writeSealedSet(backupDir, nextTime(), [48 * MiB, 1000]);
  const child = spawn(process.execPath, ['--import', 'tsx', join(__dirname, '..', 'devstack', 'offsite-copy-process.ts'), set.name], {
    env: { ...process.env, ...target.env, BACKUP_DIR: backupDir, BACKUP_OFFSITE_BWLIMIT: '8M' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (text: string) => (stderr += text));
  let last: { checkpoint?: CopyCheckpoint } | undefined;
  const killed = await new Promise<boolean>((resolve) => {
    let buffered = '';
    child.stdout.setEncoding('utf8').on('data', (text: string) => {
      buffered += text;
      const lines = buffered.split('\n');
      buffered = lines.pop()!;
      for (const line of lines) {
        const printed = JSON.parse(line) as { heartbeat?: typeof last };
        if (!printed.heartbeat) continue;
        last = printed.heartbeat;
        if ((last?.checkpoint?.upload?.parts.length ?? 0) >= 2) {
          child.kill('SIGKILL');
          resolve(true);
        }
      }
    });
    child.once('exit', () => resolve(false));
  });
  await new Promise((resolve) => (child.exitCode !== null || child.signalCode !== null ? resolve(null) : child.once('exit', resolve)));
  assert.ok(killed, `the copy was killed mid-upload (it ended by itself: ${stderr})`);
  const checkpoint = last!.checkpoint!;
  assert.equal(checkpoint.upload?.file, set.files[0]!.name);
  assert.equal((await target.uploads()).length, 1, 'the dead worker left its upload in progress');
  const offsite = activities(backupDir);
  const before = (await runIn(mock(), offsite.listOffsiteSets)).find((entry) => entry.name === set.name);
  assert.equal(before?.status, 'incomplete', 'a half-copied set is not taken for a complete one');

  const heartbeats: unknown[] = [];
  const retry = mock({ attempt: 2, heartbeatDetails: last });
  retry.on('heartbeat', (details: unknown) => heartbeats.push(details));
  const result = await runIn(retry, offsite.copySetOffsite, { setName: set.name });
  assert.ok(result.resumed.parts >= 2, `kept the finished parts: ${JSON.stringify(result.resumed)}`);
  assert.ok(result.bytesSent <= result.bytes - 2 * 8 * MiB, `sent only what was missing: ${result.bytesSent} of ${result.bytes}`);
  assert.ok(heartbeats.length > 0);
  assert.deepEqual(await target.uploads(), [], 'no orphaned multipart upload');
  assert.ok(readFileSync(join(set.path, set.files[0]!.name)).equals(await objectBytes(`${set.name}/${set.files[0]!.name}`)));
  const sets = (await runIn(mock(), offsite.listOffsiteSets)).filter((entry) => entry.name === set.name);
  assert.deepEqual(sets.map((entry) => entry.status), ['complete']);
  await runIn(mock(), offsite.verifyOffsiteSet, { setName: set.name });
});

test('a copy given up (cancelled) aborts its multipart upload and leaves no manifest', async () => {
  const backupDir = freshDir('cancel');
  const set = await writeSealedSet(backupDir, nextTime(), [40 * MiB]);
  const environment = mock();
  environment.on('heartbeat', (details: { checkpoint?: CopyCheckpoint }) => {
    if ((details.checkpoint?.upload?.parts.length ?? 0) >= 1) environment.cancel();
  });
  await assert.rejects(runIn(environment, activities(backupDir, { BACKUP_OFFSITE_BWLIMIT: '8M' }).copySetOffsite, { setName: set.name }));
  assert.deepEqual((await target.uploads()).filter((key) => key.includes(set.name)), [], 'the upload was aborted');
  assert.ok(!(await target.keys()).has(`${set.name}/${MANIFEST_FILE}`));
});

test('the offsite server down during the copy: a clear error; a later sync completes the set', { skip: process.env.OFFSITE_TEST_URL ? 'needs the local S3 server, which the test stops' : false }, async () => {
  const backupDir = freshDir('outage');
  const set = await writeSealedSet(backupDir, nextTime(), [24 * MiB, 5000]);
  const offsite = activities(backupDir, { BACKUP_OFFSITE_BWLIMIT: '8M' });
  const environment = mock();
  let stopping: Promise<void> | undefined;
  environment.on('heartbeat', (details: { checkpoint?: CopyCheckpoint }) => {
    if (!stopping && (details.checkpoint?.upload?.parts.length ?? 0) >= 1) stopping = target.server!.stop();
  });
  const failure = await runIn(environment, offsite.copySetOffsite, { setName: set.name }).then(
    () => assert.fail('the copy succeeded with the server down'),
    (error: Error) => error,
  );
  await stopping;
  assert.equal(failure.name, 'OffsiteUnreachable');
  assert.match(failure.message, new RegExp(`offsite storage http://127\\.0\\.0\\.1:${target.server!.port} is unreachable \\(ECONNREFUSED\\)`));
  assert.ok(!failure.message.includes('\n'), 'one line');
  assert.equal(set.files.length, 2);

  await target.server!.start();
  const synced = await runIn(mock(), offsite.syncOffsite);
  assert.ok(synced.copied.some((copy) => copy.set === set.name), `the sync copied the set: ${JSON.stringify(synced)}`);
  assert.deepEqual(await target.uploads(), [], 'no orphaned upload after the outage');
  await runIn(mock(), offsite.verifyOffsiteSet, { setName: set.name });
  const again = await runIn(mock(), offsite.syncOffsite);
  assert.deepEqual(again.copied, [], 'a second sync has nothing to copy');
  assert.ok(again.present.includes(set.name));
});

test('a tampered object offsite is refused, naming it; the download leaves nothing in BACKUP_DIR', async () => {
  const backupDir = freshDir('tamper');
  const set = await writeSealedSet(backupDir, nextTime(), [3 * MiB, 4096]);
  const offsite = activities(backupDir);
  await runIn(mock(), offsite.copySetOffsite, { setName: set.name });
  await runIn(mock(), offsite.verifyOffsiteSet, { setName: set.name });

  const victim = set.files[1]!;
  const key = `${target.prefix}/${set.name}/${victim.name}`;
  const damaged = Buffer.from(await objectBytes(`${set.name}/${victim.name}`));
  damaged[100] = damaged[100]! ^ 0xff;
  await target.s3.send(new PutObjectCommand({ Bucket: target.bucket, Key: key, Body: damaged }));

  await assert.rejects(runIn(mock(), offsite.verifyOffsiteSet, { setName: set.name }), (error: Error) => {
    assert.equal(error.name, 'ChecksumMismatch');
    assert.ok(error.message.includes(`s3://${target.bucket}/${key}`), error.message);
    assert.match(error.message, /tampered or damaged/);
    return true;
  });
  const emptyHost = freshDir('tamper-host');
  await assert.rejects(runIn(mock(), activities(emptyHost).downloadOffsiteSet, { reference: set.name }), (error: Error) => error.name === 'ChecksumMismatch' && error.message.includes(victim.name));
  assert.deepEqual(readdirSync(emptyHost).filter((entry) => !entry.startsWith('.')), [], 'no set in BACKUP_DIR');
  assert.ok(!existsSync(join(emptyHost, '.partial', set.name)), 'no staging left behind');
  await runIn(mock(), offsite.deleteOffsiteSet, { setName: set.name });
  assert.ok(![...(await target.keys()).keys()].some((name) => name.includes(set.name)), 'the set and its record are gone');
});

test('a host with an empty BACKUP_DIR downloads the newest complete set, verified, sealed like a local one', async () => {
  const backupDir = freshDir('origin');
  const older = await writeSealedSet(backupDir, nextTime(), [1000]);
  const newest = await writeSealedSet(backupDir, nextTime(), [2 * MiB, 3000]);
  const offsite = activities(backupDir);
  const synced = await runIn(mock(), offsite.syncOffsite);
  assert.ok([older.name, newest.name].every((name) => synced.copied.some((copy) => copy.set === name)));

  const emptyHost = freshDir('new-host');
  const downloaded = await runIn(mock(), activities(emptyHost).downloadOffsiteSet, { reference: 'latest' });
  assert.equal(downloaded.name, newest.name);
  assert.equal(downloaded.path, join(emptyHost, newest.name));
  assert.match(run('sha256sum', ['-c', CHECKSUMS_FILE], { cwd: downloaded.path }), /OK/);
  assert.equal((await verifySetChecksums(emptyHost, newest.name)).filesChecked, 2);
  for (const name of [MANIFEST_FILE, CHECKSUMS_FILE, ...newest.files.map((file) => file.name)]) {
    assert.equal(sha256(join(downloaded.path, name)), sha256(join(newest.path, name)), name);
  }
});

test('BACKUP_OFFSITE_BWLIMIT holds: a copy with a limit takes at least size/limit', async () => {
  const backupDir = freshDir('bwlimit');
  const set = await writeSealedSet(backupDir, nextTime(), [20 * MiB, 2 * MiB]);
  const started = Date.now();
  const result = await runIn(mock(), activities(backupDir, { BACKUP_OFFSITE_BWLIMIT: '8M' }).copySetOffsite, { setName: set.name });
  const seconds = (Date.now() - started) / 1000;
  const floor = result.bytes / (8 * MiB);
  assert.ok(seconds >= floor, `${result.bytes} bytes at 8 MiB/s took ${seconds.toFixed(2)} s, less than ${floor.toFixed(2)} s`);
  assert.ok(seconds < floor * 3 + 5, `the limit does not stall the copy (${seconds.toFixed(2)} s)`);
});

test('offsite retention: the local rule, never the last good set of a tier', async () => {
  const backupDir = freshDir('retention');
  const now = new Date();
  const daysAgo = (days: number) => new Date(now.getTime() - days * 86_400_000);
  const oldDaily = await writeSealedSet(backupDir, daysAgo(20), [100], 'daily');
  const freshDaily = await writeSealedSet(backupDir, daysAgo(1), [100], 'daily');
  const lonelyWeekly = await writeSealedSet(backupDir, daysAgo(90), [100], 'weekly');
  const offsite = activities(backupDir, { BACKUP_OFFSITE_DAILY_RETENTION: '7', BACKUP_OFFSITE_WEEKLY_RETENTION: '30' });
  for (const set of [oldDaily, freshDaily, lonelyWeekly]) await runIn(mock(), offsite.copySetOffsite, { setName: set.name });

  const dryRun = await runIn(mock(), offsite.applyOffsiteRetention, { apply: false });
  const decisionOf = (name: string) => dryRun.decisions.find((decision) => decision.name === name);
  assert.equal(decisionOf(oldDaily.name)?.action, 'delete');
  assert.equal(decisionOf(freshDaily.name)?.action, 'keep');
  assert.equal(decisionOf(lonelyWeekly.name)?.action, 'keep', 'the last weekly set is kept although past its retention');
  assert.deepEqual(dryRun.deleted, []);
  assert.ok((await target.keys()).has(`${oldDaily.name}/${MANIFEST_FILE}`), 'a dry run deletes nothing');

  const applied = await runIn(mock(), offsite.applyOffsiteRetention, { apply: true });
  assert.deepEqual(applied.deleted, [oldDaily.name]);
  const names = new Set((await runIn(mock(), offsite.listOffsiteSets)).map((set) => set.name));
  assert.ok(!names.has(oldDaily.name) && names.has(freshDaily.name) && names.has(lonelyWeekly.name));
});

test('credentials appear in no thrown message and no log line', async () => {
  const backupDir = freshDir('secrets');
  const logDir = freshDir('secrets-logs');
  const set = await writeSealedSet(backupDir, nextTime(), [1000]);
  const config = offsiteConfig(target, backupDir, { LOG_DIR: logDir });
  const offsite = createOffsiteActivities(config);
  // As the worker runs it: behind the activity interceptor that logs, redacts and types the failure.
  const asWorker = () => new MockActivityEnvironment({ activityType: 'copySetOffsite' }, { logger: quiet, interceptors: [activityInterceptors(config)] });
  const copy = offsite.copySetOffsite;
  await runIn(asWorker(), copy, { setName: set.name });

  const rightSecret = process.env.AWS_SECRET_ACCESS_KEY!;
  const wrongSecret = `${rightSecret.slice(0, -4)}Xq9Z`;
  process.env.AWS_SECRET_ACCESS_KEY = wrongSecret;
  try {
    const failure = await runIn(asWorker(), copy, { setName: set.name })
      .then(
        () => assert.fail('refused credentials were accepted'),
        (error: Error & { type?: string; nonRetryable?: boolean }) => error,
      );
    assert.equal(failure.type, 'ConfigError');
    assert.equal(failure.nonRetryable, true, 'refused credentials are not retried');
    assert.match(failure.message, /refused the credentials/);
    for (const secret of [...target.secrets, wrongSecret]) assert.ok(!failure.message.includes(secret), 'no credential in the message');
  } finally {
    process.env.AWS_SECRET_ACCESS_KEY = rightSecret;
  }
  const logs = readdirSync(logDir).map((name) => readFileSync(join(logDir, name), 'utf8')).join('');
  assert.match(logs, /refused the credentials/, 'the failure was logged');
  for (const secret of [...target.secrets, wrongSecret]) assert.ok(!logs.includes(secret), 'no credential in a log line');
});

test('metrics: the age of the newest complete offsite set per tier (a newer set missing a file does not count), and whether the bucket answers', async () => {
  const backupDir = freshDir('metrics');
  const copied = await writeSealedSet(backupDir, nextTime(), [2000], 'monthly');
  // Sealed seconds apart, so the two ages differ by more than the tolerance below.
  await new Promise((resolve) => setTimeout(resolve, 3000));
  const damaged = await writeSealedSet(backupDir, nextTime(), [3000], 'monthly');
  const offsite = activities(backupDir);
  for (const set of [copied, damaged]) await runIn(mock(), offsite.copySetOffsite, { setName: set.name });
  await target.s3.send(new DeleteObjectCommand({ Bucket: target.bucket, Key: `${target.prefix}/${damaged.name}/${damaged.files[0]!.name}` }));

  const page = await renderMetrics(offsiteConfig(target, backupDir, { LOG_DIR: freshDir('metrics-logs') }));
  const value = (name: string, labels = '') => {
    const line = page.split('\n').find((candidate) => candidate.startsWith(`${name}${labels ? `{${labels}}` : ''} `));
    assert.ok(line, `${name}{${labels}} is missing:\n${page}`);
    return Number(line.split(' ').at(-1));
  };
  const sealedAt = Date.parse((JSON.parse(readFileSync(join(copied.path, MANIFEST_FILE), 'utf8')) as { finishedAt: string }).finishedAt);
  const age = value('scholaria_backup_last_offsite_set_age_seconds', 'tier="monthly"');
  const expected = (Date.now() - sealedAt) / 1000;
  assert.ok(Math.abs(age - expected) <= 1.5, `age ${age} s, expected about ${expected.toFixed(1)} s (the complete set, not the damaged newer one)`);
  assert.equal(value('scholaria_backup_offsite_reachable'), 1);
  assert.ok(value('scholaria_backup_last_complete_set_timestamp_seconds', 'tier="monthly"') > sealedAt / 1000, 'the local newest is the newer set');

  const unreachable = await renderMetrics(loadConfig({ BACKUP_DIR: backupDir, LOG_DIR: freshDir('metrics-logs'), BACKUP_OFFSITE_URL: target.url, BACKUP_OFFSITE_ENDPOINT: 'http://127.0.0.1:9' }));
  assert.match(unreachable, /^scholaria_backup_offsite_reachable 0$/m);
  assert.doesNotMatch(unreachable, /^scholaria_backup_last_offsite_set_age_seconds\{/m);
  assert.doesNotMatch(await renderMetrics(loadConfig({ BACKUP_DIR: backupDir, LOG_DIR: freshDir('metrics-logs') })), /offsite/, 'no offsite metrics without a bucket');
});

function sha256(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex');
}
