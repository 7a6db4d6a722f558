import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { test } from 'node:test';
import { CopyRowCounter, unquoteQualifiedName } from '../activities/postgres/copy-row-counter';
import { libpqTarget } from '../activities/postgres/connection';
import { ConfigError, loadConfig, storeUrl } from '../core/config';
import { formatChecksums, statusOf, summaryDifferences } from '../core/manifest';
import { parseSetReference, setNameOf, timeOfSetName } from '../core/set-names';
import { parseComponents } from '../core/stores';
import { redactSecrets } from '../core/redaction';
import { discard } from '../activities/repository/hashing';
import { setDirectory, stageSet } from '../activities/repository/sets';

test('config: defaults follow the specification', () => {
  const config = loadConfig({});
  assert.equal(config.backupDir, '/backup');
  assert.deepEqual(config.retentionDays, { daily: 7, weekly: 30, monthly: 365 });
  assert.deepEqual(config.components, ['postgres', 'redis', 'qdrant']);
  assert.equal(config.temporal.address, '127.0.0.1:7233');
  assert.throws(() => storeUrl(config, 'postgres'), /^ConfigError: POSTGRES_URL is not set/);
});

test('config: each bad value is one message naming its variable, never echoing the value', () => {
  const cases: [Record<string, string>, RegExp][] = [
    [{ BACKUP_WEEKLY_RETENTION: '0' }, /^BACKUP_WEEKLY_RETENTION must be at least 1 day$/],
    [{ BACKUP_MONTHLY_RETENTION: '1.5' }, /^BACKUP_MONTHLY_RETENTION must be a whole number of days$/],
    [{ LOG_DIR: 'logs' }, /^LOG_DIR must be an absolute path$/],
    [{ TEMPORAL_ADDRESS: 'localhost' }, /^TEMPORAL_ADDRESS must be host:port/],
    [{ BACKUP_COMPONENTS: 'postgres,qdrantz' }, /^BACKUP_COMPONENTS unknown component "qdrantz"/],
    [{ POSTGRES_URL: 'mysql://u:hunter22@h/db' }, /^POSTGRES_URL must be a URL starting with postgres:\/\/ or postgresql:\/\/$/],
  ];
  for (const [env, pattern] of cases) {
    assert.throws(() => loadConfig(env), (error: Error) => error instanceof ConfigError && pattern.test(error.message) && !error.message.includes('hunter22'));
  }
});

test('set names: the specification format in UTC, and references that cannot leave BACKUP_DIR', () => {
  const when = new Date('2024-03-01T02:00:00Z');
  assert.equal(setNameOf(when), 'scholaria_backup_20240301_020000');
  assert.equal(timeOfSetName('scholaria_backup_20240301_020000')?.toISOString(), when.toISOString());
  assert.equal(timeOfSetName('scholaria_backup_20241341_020000'), undefined);
  assert.deepEqual(parseSetReference('latest', '/backup'), { kind: 'latest' });
  assert.deepEqual(parseSetReference('/backup/scholaria_backup_20240301_020000/', '/backup'), { kind: 'name', name: 'scholaria_backup_20240301_020000' });
  for (const bad of ['../x', 'scholaria_backup_20240301_020000/../../etc', '/backup/../scholaria_backup_20240301_020000', '', '.']) {
    assert.throws(() => parseSetReference(bad, '/backup'), RangeError, bad);
  }
  assert.throws(() => parseSetReference('/other/scholaria_backup_20240301_020000', '/backup'), /not inside BACKUP_DIR/);
});

test('components: canonical order, no duplicates, unknown names refused', () => {
  assert.deepEqual(parseComponents('redis, postgres,redis'), ['postgres', 'redis']);
  assert.deepEqual(parseComponents('postgres,,'), ['postgres']);
  assert.throws(() => parseComponents('mongo'), /unknown component "mongo"/);
  assert.throws(() => parseComponents(' , '), /no component given/);
});

test('manifest helpers: complete only when every store succeeded; SHA256SUMS in sha256sum format', () => {
  const ok = { status: 'ok' as const, serverVersion: '15', files: [{ name: 'b', bytes: 1, sha256: 'a'.repeat(64), role: 'x' }], summary: { unit: 'rows' as const, counts: {} }, checks: [], notes: [], phases: [] };
  assert.equal(statusOf({ postgres: ok, redis: ok }), 'complete');
  assert.equal(statusOf({ postgres: ok, redis: { status: 'failed', error: 'down' } }), 'partial');
  assert.equal(statusOf({}), 'partial');
  assert.equal(formatChecksums(ok.files), `${'a'.repeat(64)}  b\n`);
  assert.deepEqual(summaryDifferences({ unit: 'keys', counts: { db0: 3, db1: 1 } }, { unit: 'keys', counts: { db0: 3, db2: 1 } }), [
    'db1: expected 1 keys, found 0',
    'db2: expected 0 keys, found 1',
  ]);
});

test('COPY row counter: rows per table across chunk boundaries; a stream ending inside data fails', async () => {
  const sql = [
    'SET x = 1;',
    'COPY public.users (id, name) FROM stdin;',
    '1\tann',
    '2\tbob\\nwith escaped newline',
    '\\.',
    'COPY public."Odd ""Name""" (id) FROM stdin;',
    '\\.',
    'COPY other.t  FROM stdin;',
    '7',
    '\\.',
    '',
  ].join('\n');
  const chunks = [...Buffer.from(sql)].map((byte) => Buffer.from([byte]));
  const counter = new CopyRowCounter();
  await pipeline(Readable.from(chunks), counter, discard());
  assert.deepEqual(counter.counts, { 'public.users': 2, 'public.Odd "Name"': 0, 'other.t': 1 });
  assert.equal(unquoteQualifiedName('"a.b"."c"'), 'a.b.c');
  await assert.rejects(pipeline(Readable.from([Buffer.from('COPY public.t (id) FROM stdin;\n1\n2\n')]), new CopyRowCounter(), discard()), /ends inside the data of public\.t/);
});

test('secrets: URL passwords and registered values are masked; libpq gets the password only through its environment', () => {
  assert.equal(redactSecrets('connect redis://:s3cr3t@host:6379/0 failed'), 'connect redis://:***@host:6379/0 failed');
  assert.equal(redactSecrets('postgresql://app:pa%40ss@db/app', []), 'postgresql://app:***@db/app');
  const target = libpqTarget('postgresql://app:pa%40ss@db:5433/scholaria?sslmode=require');
  assert.equal(target.uri, 'postgresql://app@db:5433/scholaria?sslmode=require');
  assert.equal(target.env.PGPASSWORD, 'pa@ss');
  assert.equal(target.database, 'scholaria');
});

test('staging: a set that starts in the second of a sealed one takes the next free second', async () => {
  const backupDir = await mkdtemp(join(tmpdir(), 'stage-test-'));
  try {
    const startedAt = new Date(Date.UTC(2026, 10, 26, 7, 30, 9, 400));
    await mkdir(join(backupDir, 'scholaria_backup_20261126_073009'));
    await mkdir(join(backupDir, 'scholaria_backup_20261126_073010'));
    const staged = await stageSet(backupDir, 'weekly', startedAt);
    assert.equal(staged.name, 'scholaria_backup_20261126_073011');
    assert.ok(existsSync(setDirectory(backupDir, staged.name, 'staging')));
    const again = await stageSet(backupDir, 'weekly', startedAt);
    assert.equal(again.name, staged.name, 'a retry before the seal reuses its own staging folder');
  } finally {
    await rm(backupDir, { recursive: true, force: true });
  }
});
