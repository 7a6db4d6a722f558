/** Reading the catalog and connecting: the queries backup, verify and restore share. */
import { Client } from 'pg';
import type { LibpqTarget } from './connection';

export async function connect(target: LibpqTarget): Promise<Client> {
  const client = new Client({ connectionString: target.secretUrl, connectionTimeoutMillis: 10_000 });
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


/** Exact row counts of every user table, in the same snapshot as the dump. */
export async function countRows(client: Client): Promise<Record<string, number>> {
  const { rows: tables } = await client.query<{ schema: string; name: string }>(
    `SELECT n.nspname AS schema, c.relname AS name
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%'
        AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = c.oid AND d.deptype = 'e')
      ORDER BY 1, 2`,
  );
  const counts: Record<string, number> = {};
  for (const table of tables) {
    const qualified = `${quoteIdent(table.schema)}.${quoteIdent(table.name)}`;
    const { rows } = await client.query<{ count: string }>(`SELECT count(*) AS count FROM ${qualified}`);
    counts[`${table.schema}.${table.name}`] = Number(rows[0]!.count);
  }
  return counts;
}


export function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}
