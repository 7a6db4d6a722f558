/** Read-only look before a restore: versions, rights, leftovers, what the target holds and what the restore would do. */
import type { Config } from '../../core/config';
import type { PreflightReport, RestoreSource } from '../../core/contract';
import { totalOf, type ContentSummary } from '../../core/manifest';
import { runForOutput } from '../child-process';
import type { ProgressReporter } from '../heartbeat';
import { requireIdentityForFiles } from '../encryption';
import { storedArchive } from './archive';
import { countRows, databaseExists, otherSessions, withClient } from './catalog';
import { maintenanceTarget, majorOf, postgresTarget } from './connection';
import { restoreNames } from './databases';
import { sealedArchive } from './set-files';

export async function preflight(config: Config, input: RestoreSource, progress: ProgressReporter): Promise<PreflightReport> {
  const target = postgresTarget(config);
  const names = restoreNames(target.database, input.restoreId);
  const problems: string[] = [];
  requireIdentityForFiles(config, input.files.map((file) => file.name));
  progress.phase('reading archive header');
  const list = await storedArchive(sealedArchive(config, input), config, progress.signal)(['--list', '--create']);
  const dumpedBy = /Dumped by pg_dump version: (\S+)/.exec(list)?.[1] ?? input.serverVersion;
  const recordsDatabase = /^\d+; \d+ \d+ DATABASE - /m.test(list);
  const restoreVersion = (await runForOutput('pg_restore', ['--version'])).trim();
  if (majorOf(restoreVersion.replace(/^pg_restore \(PostgreSQL\) /, '')) < majorOf(dumpedBy)) {
    problems.push(`${restoreVersion} cannot read an archive made by pg_dump ${dumpedBy}`);
  }
  progress.phase('reading the target');
  const facts = await withClient(maintenanceTarget(config), async (client) => {
    const version = (await client.query<{ v: string }>("SELECT current_setting('server_version') AS v")).rows[0]!.v;
    const exists = await databaseExists(client, names.database);
    const leftovers = (await Promise.all([names.fresh, names.preRestore].map((name) => databaseExists(client, name)))).some(Boolean);
    const sessions = exists ? await otherSessions(client, names.database) : [];
    const canCreate = (await client.query<{ ok: boolean }>('SELECT rolcreatedb OR rolsuper AS ok FROM pg_roles WHERE rolname = current_user')).rows[0]?.ok ?? false;
    return { version, exists, leftovers, sessions, canCreate };
  });
  if (majorOf(facts.version) < majorOf(input.serverVersion)) {
    problems.push(`the target server (PostgreSQL ${facts.version}) is older than the dump's (${input.serverVersion})`);
  }
  if (!facts.canCreate) problems.push('the PostgreSQL user may not create databases (CREATEDB is needed to restore beside the target)');
  if (facts.leftovers) problems.push(`${names.fresh} or ${names.preRestore} already exists: an earlier restore with the same id was not cleaned up`);
  const current: ContentSummary = { unit: 'rows', counts: facts.exists ? await withClient(target, countRows) : {} };
  return {
    problems,
    current,
    details: [
      `target PostgreSQL ${facts.version}, database ${names.database}: ${facts.exists ? `${Object.keys(current.counts).length} tables, ${totalOf(current.counts)} rows` : 'does not exist'}`,
      `set: dumped from PostgreSQL ${input.serverVersion} by pg_dump ${dumpedBy}, ${Object.keys(input.summary.counts).length} tables, ${totalOf(input.summary.counts)} rows; ${restoreVersion}`,
      ...(facts.sessions.length > 0
        ? [`${facts.sessions.length} other sessions are connected to ${names.database} (${facts.sessions.slice(0, 3).join(', ')}); the swap fails unless --force ends them`]
        : []),
    ],
    plan: [
      'create the roles of the globals file that are missing and grant the memberships the server lacks (nothing is dropped or revoked)',
      `create database ${names.fresh} and pg_restore the archive into it, then ANALYZE`,
      recordsDatabase
        ? `give ${names.fresh} the dumped database's encoding, locale, settings, per-role settings, owner, comment and privileges`
        : 'the set records no database-level properties (made without pg_dump --create): the new database gets the defaults',
      'compare its row counts, table by table, with the manifest',
      facts.exists
        ? `in one transaction rename ${names.database} to ${names.preRestore} and ${names.fresh} to ${names.database}; ${names.preRestore} is kept until the whole restore succeeded`
        : `rename ${names.fresh} to ${names.database}`,
    ],
  };
}
