/**
 * How PostgreSQL tools are pointed at the server: the URL without its password goes on the command
 * line (libpq accepts a URI as dbname), the password only in the child's environment.
 */
import { storeUrl, type Config } from '../../core/config';
export interface LibpqTarget {
  /** Connection URI with the password removed: safe for argv and messages. */
  uri: string;
  /** The configured URL itself, for the in-process client only. */
  secretUrl: string;
  env: NodeJS.ProcessEnv;
  database: string;
}

export function libpqTarget(url: string): LibpqTarget {
  const parsed = new URL(url);
  const password = decodeURIComponent(parsed.password);
  parsed.password = '';
  const env: NodeJS.ProcessEnv = { ...process.env, PGCONNECT_TIMEOUT: process.env.PGCONNECT_TIMEOUT ?? '10' };
  delete env.PGPASSWORD;
  if (password) env.PGPASSWORD = password;
  const database = decodeURIComponent(parsed.pathname.replace(/^\//, '')) || decodeURIComponent(parsed.username) || 'postgres';
  return { uri: parsed.toString(), secretUrl: url, env, database };
}

/** `16.4` → 16, `15.19 (Debian 15.19-0+deb12u1)` → 15. */
export function majorOf(version: string): number {
  const match = /(\d+)(?:\.(\d+))?/.exec(version);
  if (!match) throw new Error(`cannot read a version from "${version}"`);
  return Number(match[1]);
}

/** The configured database. */
export function postgresTarget(config: Config): LibpqTarget {
  return libpqTarget(storeUrl(config, 'postgres'));
}

/** Another database on the configured server, with the same login: `postgres` to create and rename databases from. */
export function databaseTarget(config: Config, database: string): LibpqTarget {
  const url = new URL(storeUrl(config, 'postgres'));
  url.pathname = `/${encodeURIComponent(database)}`;
  return libpqTarget(url.toString());
}

export function maintenanceTarget(config: Config): LibpqTarget {
  return databaseTarget(config, 'postgres');
}
