/**
 * How PostgreSQL tools are pointed at the server: the URL without its password goes on the command
 * line (libpq accepts a URI as dbname), the password only in the child's environment.
 */
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
