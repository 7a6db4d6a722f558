/**
 * Roles from the set's globals file (`pg_dumpall --globals-only`): the roles the server lacks are created
 * and the memberships it lacks are granted. Nothing is dropped, revoked or altered: roles are shared by
 * every database of the server, and other databases may rely on what they are now.
 */
import { createInterface } from 'node:readline';
import type { Client } from 'pg';
import type { Config } from '../../core/config';
import { readDataFile } from '../data-file-streams';

const IDENTIFIER = String.raw`"(?:[^"]|"")+"|[^ ;"]+`;
const ROLE_STATEMENT = new RegExp(String.raw`^(?:CREATE|ALTER) ROLE (${IDENTIFIER})[ ;]`);
/** `GRANT r TO m [WITH ADMIN OPTION | WITH ADMIN TRUE, INHERIT ...] [GRANTED BY g];`, as pg_dumpall 15 and later write it. */
const MEMBERSHIP = new RegExp(String.raw`^GRANT (${IDENTIFIER}) TO (${IDENTIFIER})( WITH [A-Z ,]+)?(?: GRANTED BY (${IDENTIFIER}))?;$`);

interface Membership {
  role: string;
  member: string;
  admin: boolean;
  grantor?: string;
  statement: string;
}

export interface RolesApplied {
  created: string[];
  granted: string[];
}

export async function applyGlobals(client: Client, globalsPath: string, config: Pick<Config, 'encryption'>): Promise<RolesApplied> {
  const roleStatements = new Map<string, string[]>();
  const memberships: Membership[] = [];
  const lines = createInterface({ input: readDataFile(globalsPath, config), crlfDelay: Infinity });
  for await (const line of lines) {
    const role = ROLE_STATEMENT.exec(line);
    if (role) {
      const name = unquote(role[1]!);
      roleStatements.set(name, [...(roleStatements.get(name) ?? []), line]);
      continue;
    }
    const grant = MEMBERSHIP.exec(line);
    if (grant) {
      memberships.push({ role: unquote(grant[1]!), member: unquote(grant[2]!), admin: /ADMIN (?:OPTION|TRUE)/.test(grant[3] ?? ''), grantor: grant[4] && unquote(grant[4]), statement: line });
    }
  }
  const created: string[] = [];
  for (const [role, statements] of roleStatements) {
    if (await roleExists(client, role)) continue;
    for (const statement of statements) await client.query(statement);
    created.push(role);
  }
  const granted: string[] = [];
  for (const membership of memberships) {
    const { rows } = await client.query<{ admin: boolean }>(
      `SELECT m.admin_option AS admin FROM pg_auth_members m
         JOIN pg_roles r ON r.oid = m.roleid JOIN pg_roles u ON u.oid = m.member
        WHERE r.rolname = $1 AND u.rolname = $2`,
      [membership.role, membership.member],
    );
    if (rows[0] && (rows[0].admin || !membership.admin)) continue;
    // The grantor is a record of who granted it; a grantor the server no longer has cannot be named.
    const grantorKnown = membership.grantor === undefined || (await roleExists(client, membership.grantor));
    await client.query(grantorKnown ? membership.statement : membership.statement.replace(/ GRANTED BY .*;$/, ';'));
    granted.push(`${membership.role} to ${membership.member}${membership.admin ? ' with admin option' : ''}`);
  }
  return { created, granted };
}

async function roleExists(client: Client, role: string): Promise<boolean> {
  return (await client.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [role])).rowCount === 1;
}

function unquote(identifier: string): string {
  return identifier.startsWith('"') ? identifier.slice(1, -1).replaceAll('""', '"') : identifier;
}
