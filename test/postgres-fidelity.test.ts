/**
 * Any PostgreSQL 15 database backs up and comes back equal: a corpus of every kind of relation and
 * object, database-level properties and role memberships included, restored through the real CLI and
 * workflow, must equal what PostgreSQL's own pg_restore makes of the same archive.
 */
import assert from 'node:assert/strict';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { Client } from 'pg';
import { CORPUS_ROLES_SQL, CORPUS_SQL, databasePropertiesSql, execute } from './support/postgres-corpus';
import { createDatabase } from './support/scholaria';
import { environmentFor, run, runCli, startStores, startWorker, type RunningWorker, type Stores } from './support/stack';

let stores: Stores;
let worker: RunningWorker;
let env: Record<string, string>;

async function query<T extends Record<string, unknown>>(url: string, text: string): Promise<T[]> {
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<T>(text)).rows;
  } finally {
    await client.end();
  }
}

interface Manifest {
  name: string;
  status: string;
  stores: { postgres: { status: string; error?: string; summary: { counts: Record<string, number> }; files: { name: string; role: string }[] } };
}

/** The sets in BACKUP_DIR, complete or partial. */
function setNames(): string[] {
  return readdirSync(env.BACKUP_DIR!).filter((name) => name.startsWith('scholaria_backup_')).sort();
}

function manifestOf(stdout: string): Manifest {
  const setPath = /Backup set: (\S+)/.exec(stdout)?.[1];
  assert.ok(setPath, `no set named in: ${stdout}`);
  return JSON.parse(readFileSync(join(setPath, 'backup_manifest.json'), 'utf8')) as Manifest;
}

/** Every table's own rows (`ONLY`), counted in the test by its own query. */
async function ownRowCounts(url: string): Promise<Record<string, number>> {
  const tables = await query<{ name: string; sql: string }>(
    url,
    `SELECT n.nspname || '.' || c.relname AS name, format('SELECT count(*)::int AS n FROM ONLY %I.%I', n.nspname, c.relname) AS sql
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%'
        AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = c.oid AND d.deptype = 'e')`,
  );
  const counts: Record<string, number> = {};
  for (const table of tables) counts[table.name] = (await query<{ n: number }>(url, table.sql))[0]!.n;
  return counts;
}

/** What lives at the database level, in a form where equal means equal (ACL entries sorted, role names not oids). */
async function databaseProperties(database: string): Promise<unknown> {
  const [row] = await query(
    stores.postgres.url(),
    `SELECT pg_get_userbyid(d.datdba) AS owner, pg_encoding_to_char(d.encoding) AS encoding, d.datcollate, d.datctype, d.datlocprovider, d.datconnlimit,
            shobj_description(d.oid, 'pg_database') AS comment,
            (SELECT array_agg(a ORDER BY a) FROM unnest(d.datacl::text[]) a) AS acl,
            (SELECT array_agg(coalesce(pg_get_userbyid(NULLIF(s.setrole, 0)), '(all)') || ': ' || array_to_string(s.setconfig, '; ') ORDER BY 1)
               FROM pg_db_role_setting s WHERE s.setdatabase = d.oid) AS settings
       FROM pg_database d WHERE d.datname = '${database}'`,
  );
  return row;
}

/** pg_dump's plain SQL of a database, without the random key lines of `\restrict` / `\unrestrict`. */
function plainDump(database: string): string[] {
  return run('pg_dump', ['--dbname', stores.postgres.url(database)])
    .split('\n')
    .filter((line) => !/^\\(un)?restrict /.test(line));
}

function assertSameLines(actual: string[], expected: string[], what: string): void {
  const first = actual.findIndex((line, index) => line !== expected[index]);
  if (first === -1 && actual.length === expected.length) return;
  const at = first === -1 ? Math.min(actual.length, expected.length) : first;
  assert.fail(
    `${what}: first difference at line ${at + 1} of ${actual.length} (expected ${expected.length} lines)\n` +
      `restored:  ${JSON.stringify(actual.slice(Math.max(0, at - 2), at + 3))}\nreference: ${JSON.stringify(expected.slice(Math.max(0, at - 2), at + 3))}`,
  );
}

/**
 * Runs `work` with a `pg_dump` first on the PATH that runs `script` (bash, the real pg_dump as
 * `$REAL_PG_DUMP`); the worker runs in this process, so its dumps go through it.
 */
async function withPgDump<T>(name: string, script: string, work: () => Promise<T>): Promise<T> {
  const real = run('bash', ['-c', 'command -v pg_dump']).trim();
  const dir = join(stores.dir, `pg_dump-${name}`);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'pg_dump'), `#!/bin/bash\nREAL_PG_DUMP=${real}\n${script}\n`, { mode: 0o755 });
  const path = process.env.PATH;
  process.env.PATH = `${dir}:${path}`;
  try {
    return await work();
  } finally {
    process.env.PATH = path;
  }
}

before(async () => {
  stores = await startStores('pg-fidelity');
  await execute(stores.postgres.url(), CORPUS_ROLES_SQL);
  await createDatabase(stores, 'scholaria');
  await execute(stores.databaseUrl, CORPUS_SQL);
  await execute(stores.databaseUrl, databasePropertiesSql('scholaria'));
  env = environmentFor(stores, { BACKUP_COMPONENTS: 'postgres' });
  worker = await startWorker(env);
});

after(async () => {
  await worker?.stop();
  await stores?.stop();
});

test('a database using inheritance and partitions backs up complete, the manifest counting each table on its own', async () => {
  const result = await runCli(['backup', '--tier', 'daily'], env);
  assert.equal(result.code, 0, result.stderr + result.stdout);
  const manifest = manifestOf(result.stdout);
  assert.equal(manifest.status, 'complete');
  const counts = manifest.stores.postgres.summary.counts;
  assert.deepEqual(counts, await ownRowCounts(stores.databaseUrl));
  assert.equal(counts['corpus.a'], 1, 'the parent holds its own row, not its children');
  assert.equal(counts['corpus.e'], 6);
  assert.equal(counts['corpus.a_star'], 3);
  assert.equal(counts['corpus.b_star'], 47);
  assert.equal(counts['corpus.no_columns'], 2);
  assert.equal(counts['corpus.measurements'], undefined, 'a partitioned table holds no rows of its own');
  assert.equal(
    ['corpus.measurements_2025_eu', 'corpus.measurements_2025_other', 'corpus.measurements_2026_h0', 'corpus.measurements_2026_h1', 'corpus.measurements_default']
      .map((partition) => counts[partition]!)
      .reduce((sum, n) => sum + n, 0),
    120,
  );
});

test('rows added to a table after the snapshot was taken do not fail the backup; the set holds the snapshot', async () => {
  const insert = `INSERT INTO corpus.c SELECT 'late' || i, 'cc' FROM generate_series(1, 100) i`;
  const result = await withPgDump('late-rows', `[[ "$*" == *--snapshot=* ]] && { psql -qAt -d '${stores.databaseUrl}' -c "${insert}" >/dev/null || exit 9; }\nexec "$REAL_PG_DUMP" "$@"`, () =>
    runCli(['backup', '--tier', 'manual'], env),
  );
  assert.equal(result.code, 0, result.stderr + result.stdout);
  const manifest = manifestOf(result.stdout);
  assert.equal(manifest.stores.postgres.summary.counts['corpus.c'], 4, 'the rows came after the snapshot');
  assert.equal((await ownRowCounts(stores.databaseUrl))['corpus.c'], 104, 'the rows were really added during the backup');
  await execute(stores.databaseUrl, `DELETE FROM corpus.c WHERE aa LIKE 'late%'`);
});

test('a dump that lacks the rows of a table, though pg_dump says it succeeded, fails the backup naming the table', async () => {
  const setsBefore = setNames();
  const result = await withPgDump('without-rows', '[[ "$*" == *--snapshot=* ]] && exec "$REAL_PG_DUMP" --exclude-table-data=corpus.b_star "$@"\nexec "$REAL_PG_DUMP" "$@"', () => runCli(['backup', '--tier', 'manual'], env));
  assert.equal(result.code, 1, result.stdout);
  assert.match(result.stderr, /does not hold the rows of 1 tables the database has: corpus\.b_star/);
  // PostgreSQL was the only store of the run: a backup in which every store failed seals no set.
  assert.doesNotMatch(result.stdout, /Backup set:/);
  assert.deepEqual(setNames(), setsBefore, 'no set, not even a partial one, was written');
});

test('a dump cut short, though pg_dump says it succeeded, fails the backup', async () => {
  const setsBefore = setNames();
  const result = await withPgDump('cut-short', '[[ "$*" == *--snapshot=* ]] || exec "$REAL_PG_DUMP" "$@"\n"$REAL_PG_DUMP" "$@" | head -c 30000\nexit 0', () => runCli(['backup', '--tier', 'manual'], env));
  assert.equal(result.code, 1, result.stdout);
  assert.match(result.stderr, /PostgreSQL: pg_restore exited with code 1/);
  assert.doesNotMatch(result.stdout, /Backup set:/);
  assert.deepEqual(setNames(), setsBefore, 'no set, not even a partial one, was written');
});

test('fidelity: damaged, then restore latest --yes --force: equal to a plain pg_restore of the archive, database properties and memberships back', async () => {
  const original = await databaseProperties('scholaria');
  const backup = await runCli(['backup', '--tier', 'daily'], env);
  assert.equal(backup.code, 0, backup.stderr + backup.stdout);
  const manifest = manifestOf(backup.stdout);

  await execute(
    stores.databaseUrl,
    `DROP SCHEMA corpus CASCADE; DROP SCHEMA "Odd Schema" CASCADE; DROP EXTENSION hstore;
     SELECT lo_unlink(424242);
     CREATE TABLE public.intruder (id int); INSERT INTO public.intruder VALUES (1);`,
  );
  await execute(
    stores.postgres.url(),
    `ALTER DATABASE scholaria RESET ALL; ALTER ROLE corpus_app IN DATABASE scholaria RESET ALL;
     COMMENT ON DATABASE scholaria IS NULL; REVOKE ALL ON DATABASE scholaria FROM corpus_app, corpus_writer CASCADE; ALTER DATABASE scholaria CONNECTION LIMIT -1; GRANT TEMPORARY ON DATABASE scholaria TO PUBLIC;
     ALTER DATABASE scholaria OWNER TO postgres; REVOKE corpus_reader FROM corpus_app; REVOKE ADMIN OPTION FOR corpus_writer FROM corpus_app;`,
  );
  assert.notDeepEqual(await databaseProperties('scholaria'), original, 'the damage reached the database level');

  const restored = await runCli(['restore', 'latest', '--yes', '--force'], env);
  assert.equal(restored.code, 0, restored.stderr + restored.stdout);
  assert.match(restored.stdout, /PostgreSQL: restored/);
  assert.match(restored.stdout, /memberships granted: corpus_reader to corpus_app; corpus_writer to corpus_app with admin option/);

  const archive = manifest.stores.postgres.files.find((file) => file.role === 'custom-dump')!;
  await createDatabase(stores, 'reference');
  run('pg_restore', ['--exit-on-error', '--dbname', stores.postgres.url('reference'), join(env.BACKUP_DIR!, manifest.name, archive.name)]);
  assertSameLines(plainDump('scholaria'), plainDump('reference'), 'pg_dump of the restored database against pg_dump of a plain pg_restore');
  assert.deepEqual(await ownRowCounts(stores.databaseUrl), manifest.stores.postgres.summary.counts);

  assert.deepEqual(await databaseProperties('scholaria'), original);
  const globals = run('pg_dumpall', ['--globals-only', '--dbname', stores.postgres.url()]);
  assert.match(globals, /^GRANT corpus_reader TO corpus_app GRANTED BY postgres;$/m);
  assert.match(globals, /^GRANT corpus_writer TO corpus_app WITH ADMIN OPTION GRANTED BY postgres;$/m);
  assert.match(globals, /^GRANT corpus_reader TO "Corpus Auditor" GRANTED BY postgres;$/m);
  assert.match(globals, /^ALTER ROLE corpus_app SET statement_timeout TO '45s';$/m);
  // PostgreSQL 15's pg_dumpall -g leaves per-database role settings to pg_dump --create, which shows them:
  const databaseLevel = run('pg_dump', ['--create', '--schema-only', '--table=corpus.a', '--dbname', stores.databaseUrl]);
  assert.match(databaseLevel, /^ALTER ROLE corpus_app IN DATABASE scholaria SET work_mem TO '24MB';$/m);
  assert.match(databaseLevel, /^ALTER ROLE corpus_app IN DATABASE scholaria SET application_name TO 'corpus app';$/m);
  assert.match(databaseLevel, /^ALTER DATABASE scholaria SET search_path TO 'corpus', 'public', '\$user';$/m);

  const [session] = await query<{ work_mem: string; search_path: string }>(
    stores.postgres.url('scholaria').replace('postgres@', 'corpus_app@'),
    "SELECT current_setting('work_mem') AS work_mem, current_setting('search_path') AS search_path",
  );
  assert.deepEqual(session, { work_mem: '24MB', search_path: 'corpus, public, "$user"' }, 'a new session of the application gets the settings');
  assert.ok(!(await query<{ datname: string }>(stores.postgres.url(), 'SELECT datname FROM pg_database')).some((row) => row.datname.includes('restore_')));
  assert.deepEqual(readdirSync(join(env.BACKUP_DIR!, '.partial')), []);
});
