/** Connecting, and the catalog queries backup, restore and the safety snapshot share. */
import { Client } from 'pg';
import type { LibpqTarget } from './connection';

export async function connect(target: LibpqTarget): Promise<Client> {
  const client = new Client({ connectionString: target.secretUrl, connectionTimeoutMillis: 10_000 });
  // A connection lost while idle (the server restarted mid-restore) is emitted as an 'error' event, which
  // unheard ends the worker; heard, it fails the client's next query instead, and the activity retries.
  client.on('error', () => undefined);
  try {
    await client.connect();
  } catch (error) {
    throw new Error(`PostgreSQL at ${target.uri} is unreachable: ${(error as Error).message}`);
  }
  return client;
}

export async function withClient<T>(target: LibpqTarget, work: (client: Client) => Promise<T>): Promise<T> {
  const client = await connect(target);
  try {
    return await work(client);
  } finally {
    await client.end().catch(() => undefined);
  }
}

export function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/** A table as the catalog and the row counts name it: `schema.table`, unquoted. */
export interface TableName {
  schema: string;
  name: string;
}

export function qualifiedName(table: TableName): string {
  return `${table.schema}.${table.name}`;
}

/**
 * The tables whose rows pg_dump writes, each on its own (a parent of classic inheritance without its
 * children, a partition without its parent): plain and unlogged tables and partitions, not the
 * partitioned parents (they hold no rows), not temporary tables, not tables of extensions. On a
 * standby, unlogged tables cannot be read, and pg_dump leaves their rows out.
 */
export async function tablesWithRows(client: Client): Promise<TableName[]> {
  const { rows } = await client.query<TableName>(
    `SELECT n.nspname AS schema, c.relname AS name
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE c.relkind = 'r' AND c.relpersistence <> 't'
        AND NOT (c.relpersistence = 'u' AND pg_is_in_recovery())
        AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname !~ '^pg_(toast|temp_)'
        AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')
      ORDER BY 1, 2`,
  );
  return rows;
}

/**
 * Exact row counts of every table on its own (`ONLY`): what a dump of it holds. Reads every table, so it
 * is for the databases a restore made and for the target it is about to replace, never for the backup.
 */
export async function countRows(client: Client): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for (const table of await tablesWithRows(client)) {
    const { rows } = await client.query<{ count: string }>(`SELECT count(*) AS count FROM ONLY ${quoteIdent(table.schema)}.${quoteIdent(table.name)}`);
    counts[qualifiedName(table)] = Number(rows[0]!.count);
  }
  return counts;
}

export async function databaseExists(client: Client, name: string): Promise<boolean> {
  return (await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name])).rowCount === 1;
}

/** The other sessions on `database`, one line each, e.g. `app@10.0.0.5 pid 4711 (web)`. */
export async function otherSessions(client: Client, database: string): Promise<string[]> {
  const { rows } = await client.query<{ who: string }>(
    `SELECT format('%s@%s pid %s%s', usename, coalesce(host(client_addr), 'local'), pid,
                   CASE WHEN application_name <> '' THEN ' (' || application_name || ')' ELSE '' END) AS who
       FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()`,
    [database],
  );
  return rows.map((row) => row.who);
}
