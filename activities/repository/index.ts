import { Context } from '@temporalio/activity';
import type { Config } from '../../core/config';
import type { RepositoryActivities, ResolvedSet } from '../../core/contract';
import { pruneSets } from './prune';
import { discardStagedSet, exists, resolveSet, sealSet, stageSet, verifySetChecksums } from './sets';
import { holdSet } from './set-holds';
import { withProgress } from '../heartbeat';
import { TOOL } from '../package-version';
import { setEncryptionOf } from '../encryption';
import { appendAudit } from '../audit';
import { serverClock } from '../server-clock';
import type { PruneReport } from '../../core/workflow-types';
import type { Tier } from '../../core/tiers';

/**
 * Retention after a backup deletes inside the backup's activity, so it audits here: which sets, why,
 * and the backup run that applied it. (A `prune` run audits its deletions in its workflow.)
 */
async function auditRetention(config: Config, tier: Tier, report: PruneReport, at: Date): Promise<void> {
  const reasons = report.decisions.filter((decision) => report.deleted.includes(decision.name)).map((decision) => `${decision.name}: ${decision.reason}`);
  await appendAudit(config, {
    event: 'retention',
    at: at.toISOString(),
    by: 'retention policy',
    workflowId: Context.current().info.workflowExecution?.workflowId ?? 'unknown',
    tier,
    stores: [],
    dryRun: false,
    outcome: 'deleted',
    reason: reasons.join('; '),
    deleted: report.deleted,
  });
}

/**
 * The set a run is about to read, held for that run (activities/repository/set-holds.ts) so that
 * retention leaves it alone. A set retention moved out of sight at that very moment is looked up again
 * by the activity's next attempt, which finds it back or finds it deleted.
 */
async function resolveAndHold(backupDir: string, reference: string): Promise<ResolvedSet> {
  const set = await resolveSet(backupDir, reference);
  const run = Context.current().info.workflowExecution;
  // Only a workflow's steps read sets for long; anything else has no run to name.
  if (run) await holdSet(backupDir, set.name, run.workflowId, serverClock()());
  if (!(await exists(set.path))) throw new Error(`backup set ${set.name} was being pruned as it was opened; looking again`);
  return set;
}

/** The backup repository's operations as activities: the set's lifecycle on disk. */
export function createRepositoryActivities(config: Config): RepositoryActivities {
  return {
    prepareBackupSet: ({ tier, startedAt }) => stageSet(config.backupDir, tier, new Date(startedAt)),
    sealBackupSet: (input) =>
      withProgress(async (progress) => {
        progress.phase('sealing');
        return sealSet(config.backupDir, input, TOOL, await setEncryptionOf(config), serverClock());
      }),
    discardStagedSet: ({ setName }) => discardStagedSet(config.backupDir, setName),
    resolveBackupSet: ({ reference }) => resolveAndHold(config.backupDir, reference),
    applyRetention: async ({ tier }) => {
      const now = serverClock()();
      const report = await pruneSets(config.backupDir, { days: config.retentionDays }, now, { tiers: [tier], apply: true });
      if (report.deleted.length > 0) await auditRetention(config, tier, report, now);
      return { deleted: report.deleted, overdue: report.decisions.filter((decision) => decision.overdue).map((decision) => decision.name) };
    },
    pruneBackupSets: ({ tiers, apply }) => pruneSets(config.backupDir, { days: config.retentionDays }, serverClock()(), { tiers, apply }),
    verifySetChecksums: ({ setName }) =>
      withProgress((progress) => {
        progress.phase('checking checksums');
        return verifySetChecksums(config.backupDir, setName, (bytes) => progress.bytes(bytes));
      }),
  };
}
