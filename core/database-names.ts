/** Names of databases this tool creates beside the live one: side-by-side restores and drills. */

/** An unquoted PostgreSQL identifier of at most 63 bytes: safe in any statement, no quoting surprises. */
const DATABASE_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

/** The name given to `--as-database`, checked; throws a one-line reason. */
export function parseDatabaseName(name: string): string {
  if (!DATABASE_NAME.test(name)) {
    throw new Error(`invalid database name ${JSON.stringify(name)}: use lower-case letters, digits and _ (at most 63, not starting with a digit)`);
  }
  return name;
}
