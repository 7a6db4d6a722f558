/**
 * What lives at the level of the database rather than in it: `ALTER DATABASE ... SET` settings,
 * per-role settings in the database (`ALTER ROLE ... IN DATABASE ... SET`), its owner, comment, security
 * labels and privileges, and the encoding and locale it was created with. A plain `pg_restore` leaves
 * all of them out; `pg_dump --create` records them in the archive, and `pg_restore --create` prints them
 * for the database's own name. Here they are read from the archive and applied to a database of any
 * name: the one a restore swaps in, a side-by-side restore, a drill's scratch database.
 */
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Client } from 'pg';
import { VerificationFailed } from '../repository/errors';
import type { ArchiveReader } from './archive';
import { quoteIdent } from './catalog';

export interface DatabaseProperties {
  /** The name the database had when it was dumped. */
  dumpedAs: string;
  /** What follows `CREATE DATABASE <name>`, e.g. `WITH TEMPLATE = template0 ENCODING = 'UTF8' LOCALE = 'C.UTF-8'`. */
  creation: string;
  /** The statements that give a database these properties. */
  statements: PropertyStatement[];
}

/** A statement split where the database's name goes; without `after`, a session setting run as it is. */
export interface PropertyStatement {
  before: string;
  after?: string;
}

const IDENTIFIER = String.raw`(?:"(?:[^"]|"")+"|[A-Za-z_][A-Za-z0-9_$]*)`;
/** The statements pg_dump writes for a database's properties, split around the database's name. */
const STATEMENT_SHAPES = [
  new RegExp(String.raw`^(CREATE DATABASE )(${IDENTIFIER})( [\s\S]*)$`),
  new RegExp(String.raw`^(ALTER DATABASE )(${IDENTIFIER})( [\s\S]*)$`),
  new RegExp(String.raw`^(ALTER ROLE ${IDENTIFIER} IN DATABASE )(${IDENTIFIER})( [\s\S]*)$`),
  new RegExp(String.raw`^(COMMENT ON DATABASE )(${IDENTIFIER})( IS [\s\S]*)$`),
  new RegExp(String.raw`^(SECURITY LABEL FOR ${IDENTIFIER} ON DATABASE )(${IDENTIFIER})( IS [\s\S]*)$`),
  new RegExp(String.raw`^((?:GRANT|REVOKE) [A-Z, ]+ ON DATABASE )(${IDENTIFIER})( (?:TO|FROM) [\s\S]*)$`),
];
/** Session settings around them (who grants, search path), run as they are. */
const SESSION_STATEMENT = /^(?:SET |RESET |SELECT pg_catalog\.set_config\()/;
/** The archive entries of the database itself, as `pg_restore --create --list` names them. */
const DATABASE_ENTRY = /^\d+; \d+ \d+ (?:DATABASE|DATABASE PROPERTIES|(?:COMMENT|ACL|SECURITY LABEL) - DATABASE) /;

/**
 * Reads the database-level properties from an archive (its table of contents only); undefined for an archive made without
 * `pg_dump --create` (sets of earlier versions), which does not record them.
 */
export async function readDatabaseProperties(archive: ArchiveReader, scratchList: string): Promise<DatabaseProperties | undefined> {
  const list = await archive(['--list', '--create']);
  const dumpedAs = /^;\s+dbname: (.*)$/m.exec(list)?.[1];
  const entries = list.split('\n').filter((line) => DATABASE_ENTRY.test(line));
  if (dumpedAs === undefined || !entries.some((line) => / DATABASE - /.test(line))) return undefined;
  await mkdir(dirname(scratchList), { recursive: true });
  await writeFile(scratchList, `${entries.join('\n')}\n`);
  let sql: string;
  try {
    sql = await archive(['--create', `--use-list=${scratchList}`, '--file=-']);
  } finally {
    await rm(scratchList, { force: true });
  }
  let creation: string | undefined;
  const statements: PropertyStatement[] = [];
  for (const statement of sqlStatements(sql)) {
    if (SESSION_STATEMENT.test(statement)) {
      statements.push({ before: statement });
      continue;
    }
    const shape = STATEMENT_SHAPES.map((pattern) => pattern.exec(statement)).find((match) => match !== null);
    if (!shape || unquoteIdentifier(shape[2]!) !== dumpedAs) {
      throw new VerificationFailed(`the archive's database properties hold a statement this tool cannot apply to another database name: ${statement.slice(0, 120)}`);
    }
    if (statement.startsWith('CREATE DATABASE ')) creation = shape[3]!.trim();
    else statements.push({ before: shape[1]!, after: shape[3]! });
  }
  if (creation === undefined) throw new VerificationFailed('the archive records no CREATE DATABASE for its database');
  return { dumpedAs, creation, statements };
}

/** `CREATE DATABASE <name>` with the encoding, locale and template the dumped database was created with. */
export function createDatabaseStatement(properties: DatabaseProperties, database: string): string {
  return `CREATE DATABASE ${quoteIdent(database)} ${properties.creation}`;
}

/** Gives `database` the dumped database's properties; `client` is connected to any database of the server. */
export async function applyDatabaseProperties(client: Client, properties: DatabaseProperties, database: string): Promise<void> {
  for (const { before, after } of properties.statements) {
    const statement = after === undefined ? before : `${before}${quoteIdent(database)}${after}`;
    try {
      await client.query(statement);
    } catch (error) {
      throw new Error(`cannot give ${database} the properties of the dumped database: ${(error as Error).message} (in: ${statement.slice(0, 120)})`);
    }
  }
  await client.query('RESET ALL; RESET SESSION AUTHORIZATION');
}

/**
 * pg_restore's SQL, one statement each: psql meta-commands (`\connect`, `\restrict`) and comments
 * dropped, statements ended by a `;` outside quotes.
 */
export function sqlStatements(sql: string): string[] {
  const statements: string[] = [];
  let current = '';
  let quote: "'" | '"' | undefined;
  for (let i = 0; i < sql.length; i += 1) {
    const ch = sql[i]!;
    if (quote === undefined && current.trim() === '' && (ch === '\\' || sql.startsWith('--', i))) {
      const end = sql.indexOf('\n', i);
      i = end === -1 ? sql.length : end;
      current = '';
      continue;
    }
    current += ch;
    if (quote !== undefined) {
      if (ch === quote) quote = undefined;
    } else if (ch === "'" || ch === '"') {
      quote = ch;
    } else if (ch === ';') {
      statements.push(current.trim());
      current = '';
    }
  }
  if (current.trim() !== '') throw new VerificationFailed(`pg_restore's SQL ends inside a statement: ${current.trim().slice(0, 80)}`);
  return statements;
}

function unquoteIdentifier(text: string): string {
  return text.startsWith('"') ? text.slice(1, -1).replaceAll('""', '"') : text;
}
