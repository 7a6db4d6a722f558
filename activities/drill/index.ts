/** The drill's activities: scratch restores and their removal per store, the operator's checks, the drill log. */
import { appendFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Config } from '../../core/config';
import { DRILLS_FILE, type DrillActivities } from '../../core/drills';
import { redactSecrets } from '../../core/redaction';
import { SetNotFound } from '../repository/errors';
import { listSets, resolveSet } from '../repository/sets';
import { withProgress } from '../heartbeat';
import { removePostgresScratch, restorePostgresScratch, runChecks } from './postgres';
import { removeQdrantScratch, restoreQdrantScratch } from './qdrant';
import { removeRedisScratch, restoreRedisScratch } from './redis';

export function createDrillActivities(config: Config): DrillActivities {
  return {
    async findDrillSet({ reference, tier }) {
      if (!tier || reference !== 'latest') return { name: (await resolveSet(config.backupDir, reference)).name };
      const newest = (await listSets(config.backupDir)).find((set) => set.manifest?.status === 'complete' && set.manifest.tier === tier);
      if (!newest) throw new SetNotFound(`no complete ${tier} backup set in ${config.backupDir}`);
      return { name: newest.name };
    },
    restoreIntoScratch: ({ store, drillId, source }) =>
      withProgress((progress) => {
        if (store === 'postgres') return restorePostgresScratch(config, drillId, source, progress);
        if (store === 'redis') return restoreRedisScratch(config, drillId, source, progress);
        return restoreQdrantScratch(config, drillId, source, progress);
      }),
    runDrillChecks: ({ drillId }) => runChecks(config, drillId),
    async removeScratch({ store, drillId }) {
      if (store === 'postgres') return removePostgresScratch(config, drillId);
      if (store === 'redis') return removeRedisScratch(config);
      return removeQdrantScratch(config, drillId);
    },
    async recordDrill(result) {
      await mkdir(config.logDir, { recursive: true });
      await appendFile(join(config.logDir, DRILLS_FILE), `${redactSecrets(JSON.stringify(result))}\n`);
    },
  };
}
