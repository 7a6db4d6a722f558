/** Is the server reachable, and can this machine's pg_dump dump it? */
import type { Config } from '../../core/config';
import type { StoreProbe } from '../../core/contract';
import { runForOutput } from '../child-process';
import { withClient } from './catalog';
import { majorOf, postgresTarget } from './connection';

export async function probe(config: Config): Promise<StoreProbe> {
  const target = postgresTarget(config);
  const serverVersion = await withClient(target, async (client) => {
    const { rows } = await client.query<{ server_version: string }>('SHOW server_version');
    return rows[0]!.server_version;
  });
  const dumpVersion = (await runForOutput('pg_dump', ['--version'])).trim();
  if (majorOf(dumpVersion.replace(/^pg_dump \(PostgreSQL\) /, '')) < majorOf(serverVersion)) {
    throw Object.assign(new Error(`${dumpVersion} cannot dump a PostgreSQL ${serverVersion} server; install the client of version ${majorOf(serverVersion)} or newer`), {
      name: 'IncompatibleVersion',
    });
  }
  return { serverVersion, details: [`${dumpVersion} for server ${serverVersion}`, `database ${target.database}`] };
}
