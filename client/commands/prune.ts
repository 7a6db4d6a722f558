import type { Config } from '../../core/config';
import { parseTier } from '../../core/tiers';
import { connectTemporal, UserError } from '../connection';
import { formatTable } from '../format';
import { rootFailure } from '../failure-details';
import { requester, startRun, workflowIds } from '../runs';

/**
 * Retention by hand: what would go and why; deletion only with --yes. Both run as a prune workflow on
 * the worker (visible in the Web UI); with --yes it deletes under the backup lock and is audited.
 */
export async function pruneCommand(config: Config, options: { tier?: string; yes?: boolean; json?: boolean }): Promise<number> {
  let tiers;
  try {
    tiers = options.tier ? [parseTier(options.tier)] : undefined;
  } catch (error) {
    throw new UserError((error as Error).message);
  }
  const apply = options.yes ?? false;
  const client = await connectTemporal(config);
  let report;
  try {
    const handle = await startRun(client, config, 'pruneWorkflow', { kind: 'prune' }, (base) => ({
      ...base,
      workflowId: workflowIds.prune(),
      args: [{ tiers, apply, requestedBy: requester() }],
      staticSummary: apply ? `prune${options.tier ? ` ${options.tier}` : ''}: delete the sets the retention policy gives up` : `prune dry run${options.tier ? ` of ${options.tier}` : ''}: deletes nothing`,
    }));
    report = await handle.result();
  } catch (error) {
    throw new UserError(`prune failed: ${rootFailure(error).message}`);
  } finally {
    await client.connection.close();
  }
  if (options.json) {
    process.stdout.write(`${JSON.stringify({ applied: apply, ...report }, null, 2)}\n`);
    return 0;
  }
  if (report.decisions.length === 0) {
    process.stdout.write(`No backup sets in ${config.backupDir}\n`);
    return 0;
  }
  const verb = apply ? 'deleted' : 'would delete';
  process.stdout.write(
    `${formatTable(['SET', 'DECISION', 'WHY'], report.decisions.map((decision) => [decision.name, decision.action === 'delete' ? verb : 'keep', decision.reason]))}\n`,
  );
  const deletions = report.decisions.filter((decision) => decision.action === 'delete').length;
  process.stdout.write(
    apply ? `${report.deleted.length} sets deleted.\n` : `${deletions} sets would be deleted; nothing was changed. Run again with --yes to delete them.\n`,
  );
  return 0;
}
