import type { Config } from '../../core/config';
import { parseTier } from '../../core/tiers';
import { createNotificationActivities } from '../../activities/notifications';
import { pruneSets } from '../../activities/repository/prune';
import { UserError } from '../connection';
import { formatTable } from '../format';

/** Retention by hand: what would go and why; deletion only with --yes. */
export async function pruneCommand(config: Config, options: { tier?: string; yes?: boolean; json?: boolean }): Promise<number> {
  let tiers;
  try {
    tiers = options.tier ? [parseTier(options.tier)] : undefined;
  } catch (error) {
    throw new UserError((error as Error).message);
  }
  const report = await pruneSets(config.backupDir, { days: config.retentionDays }, new Date(), { tiers, apply: options.yes ?? false });
  const overdue = report.decisions.filter((decision) => decision.overdue);
  if (options.yes && overdue.length > 0) {
    await createNotificationActivities(config).notify({
      kind: 'prune',
      outcome: 'refused',
      title: `prune kept ${overdue.length} sets past their retention`,
      reason: 'no newer complete, verified set of their tier exists, so they remain the recovery points',
      details: overdue.map((decision) => `${decision.name}: ${decision.reason}`),
    });
  }
  if (options.json) {
    process.stdout.write(`${JSON.stringify({ applied: options.yes ?? false, ...report }, null, 2)}\n`);
    return 0;
  }
  if (report.decisions.length === 0) {
    process.stdout.write(`No backup sets in ${config.backupDir}\n`);
    return 0;
  }
  const verb = options.yes ? 'deleted' : 'would delete';
  process.stdout.write(
    `${formatTable(['SET', 'DECISION', 'WHY'], report.decisions.map((decision) => [decision.name, decision.action === 'delete' ? verb : 'keep', decision.reason]))}\n`,
  );
  const deletions = report.decisions.filter((decision) => decision.action === 'delete').length;
  process.stdout.write(
    options.yes
      ? `${report.deleted.length} sets deleted.\n`
      : `${deletions} sets would be deleted; nothing was changed. Run again with --yes to delete them.\n`,
  );
  return 0;
}
