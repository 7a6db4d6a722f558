/**
 * PostgreSQL drills: the set is restored into `scholaria_drill_<id>` on the production server (or on
 * DRILL_POSTGRES_URL), with the same restore a real one uses, counted, checked with the operator's SQL,
 * and dropped. The live database is never connected to.
 */
import { readFile } from 'node:fs/promises';
import type { Config } from '../../core/config';
import type { RestoreSource } from '../../core/contract';
import { scratchNames, type DrillCheckResult, type ScratchRestoreResult } from '../../core/drills';
import { ConfigError } from '../../core/config';
import type { ProgressReporter } from '../heartbeat';
import { countRows, databaseExists, withClient } from '../postgres/catalog';
import { databaseTarget, maintenanceTarget } from '../postgres/connection';
import { dropDatabase } from '../postgres/databases';
import { restoreInto } from '../postgres/restore';
import { drillConfig } from './targets';

export async function restorePostgresScratch(config: Config, drillId: string, source: RestoreSource, progress: ProgressReporter): Promise<ScratchRestoreResult> {
  const scratch = drillConfig(config, 'postgres');
  const { database } = scratchNames(drillId);
  const details = await restoreInto(scratch, source, database, progress);
  progress.phase(`counting rows of ${database}`);
  const counts = await withClient(databaseTarget(scratch, database), countRows);
  return { target: `database ${database}${config.drill.storeUrls.postgres ? ' on DRILL_POSTGRES_URL' : ''}`, summary: { unit: 'rows', counts }, details };
}

export async function removePostgresScratch(config: Config, drillId: string): Promise<string[]> {
  const { database } = scratchNames(drillId);
  return withClient(maintenanceTarget(drillConfig(config, 'postgres')), async (client) => {
    if (!(await databaseExists(client, database))) return [];
    await dropDatabase(client, database);
    return [`database ${database}`];
  });
}

/**
 * The operator's checks (DRILL_CHECKS_SQL): queries separated by `;` at the end of a line, each of
 * which must return true in its first column; run in a read-only transaction against the drill's copy.
 */
export async function runChecks(config: Config, drillId: string): Promise<DrillCheckResult[]> {
  const file = config.drill.checksSqlFile;
  if (!file) return [];
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw new ConfigError(`DRILL_CHECKS_SQL ${file} cannot be read (${(error as NodeJS.ErrnoException).code})`);
  }
  const queries = splitQueries(text);
  const { database } = scratchNames(drillId);
  return withClient(databaseTarget(drillConfig(config, 'postgres'), database), async (client) => {
    const results: DrillCheckResult[] = [];
    for (const query of queries) {
      try {
        await client.query('BEGIN READ ONLY');
        const { rows } = await client.query<Record<string, unknown>>(query);
        const first = rows[0] ? Object.values(rows[0])[0] : undefined;
        results.push(first === true ? { query, passed: true } : { query, passed: false, error: `returned ${JSON.stringify(first ?? null)}, not true` });
      } catch (error) {
        results.push({ query, passed: false, error: (error as Error).message });
      } finally {
        await client.query('ROLLBACK').catch(() => undefined);
      }
    }
    return results;
  });
}

export function splitQueries(text: string): string[] {
  return text
    .split(/;\s*$/m)
    .map((query) => query.split('\n').filter((line) => !/^\s*--/.test(line)).join('\n').trim())
    .filter(Boolean);
}
