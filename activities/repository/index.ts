import type { Config } from '../../core/config';
import type { RepositoryActivities } from '../../core/contract';
import { pruneSets } from './prune';
import { discardStagedSet, resolveSet, sealSet, stageSet, verifySetChecksums } from './sets';
import { withProgress } from '../heartbeat';
import { TOOL } from '../package-version';
import { setEncryptionOf } from '../encryption';

/** The backup repository's operations as activities: the set's lifecycle on disk. */
export function createRepositoryActivities(config: Config): RepositoryActivities {
  return {
    prepareBackupSet: ({ tier, startedAt }) => stageSet(config.backupDir, tier, new Date(startedAt)),
    sealBackupSet: (input) =>
      withProgress(async (progress) => {
        progress.phase('sealing');
        return sealSet(config.backupDir, input, TOOL, await setEncryptionOf(config));
      }),
    discardStagedSet: ({ setName }) => discardStagedSet(config.backupDir, setName),
    resolveBackupSet: ({ reference }) => resolveSet(config.backupDir, reference),
    applyRetention: async ({ tier }) => {
      const report = await pruneSets(config.backupDir, { days: config.retentionDays }, new Date(), { tiers: [tier], apply: true });
      return { deleted: report.deleted, overdue: report.decisions.filter((decision) => decision.overdue).map((decision) => decision.name) };
    },
    pruneBackupSets: ({ tiers, apply }) => pruneSets(config.backupDir, { days: config.retentionDays }, new Date(), { tiers, apply }),
    verifySetChecksums: ({ setName }) =>
      withProgress((progress) => {
        progress.phase('checking checksums');
        return verifySetChecksums(config.backupDir, setName, (bytes) => progress.bytes(bytes));
      }),
  };
}
