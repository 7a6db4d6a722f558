/**
 * `npm run dev`: single-host mode. The Temporal dev server with its Web UI, and a worker, running
 * until Ctrl-C, so the CLI can be used from another terminal against the configured stores.
 */
import { join } from 'node:path';
import { loadConfig } from '../core/config';
import { STORE_NAMES, STORE_URL_VARIABLES } from '../core/stores';
import { runWorker } from '../worker/worker';
import { connectTemporal } from '../client/connection';
import { applySchedules } from '../client/schedules';
import { ensureTemporal, STACK_DIR } from './local-stack';

async function main(): Promise<void> {
  const temporal = await ensureTemporal();
  const env = {
    ...process.env,
    BACKUP_DIR: process.env.BACKUP_DIR ?? join(STACK_DIR, 'backups'),
    LOG_DIR: process.env.LOG_DIR ?? join(STACK_DIR, 'logs'),
    TEMPORAL_ADDRESS: temporal.address,
    TEMPORAL_UI_URL: temporal.uiUrl,
  };
  const config = loadConfig(env);
  const unset = STORE_NAMES.filter((store) => !config.storeUrls[store]).map((store) => STORE_URL_VARIABLES[store]);
  process.stdout.write(
    [
      `Temporal dev server ${temporal.address}, Web UI ${temporal.uiUrl}`,
      `Worker on task queue ${config.temporal.taskQueue}; backups in ${config.backupDir}, logs in ${config.logDir}`,
      ...(unset.length ? [`Not set (backups of these stores will fail until it is): ${unset.join(', ')}`] : []),
      'From another terminal:',
      `  export TEMPORAL_ADDRESS=${temporal.address} TEMPORAL_UI_URL=${temporal.uiUrl} BACKUP_DIR=${config.backupDir}`,
      '  npx scholaria-backup backup',
      'Ctrl-C stops the worker; `npm run stop` stops the dev server too.',
      '',
    ].join('\n'),
  );
  if (config.schedule.applyAtStart) {
    const client = await connectTemporal(config);
    const outcomes = await applySchedules(client, config);
    await client.connection.close();
    process.stdout.write(`Schedules: ${Object.entries(outcomes).map(([tier, outcome]) => `${tier} ${outcome}`).join(', ')}\n`);
  }
  await runWorker(config, {});
}

main().catch((error: Error) => {
  process.stderr.write(`dev: ${error.message}\n`);
  process.exit(1);
});
