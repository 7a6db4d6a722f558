import type { Config } from '../../core/config';
import { DRILL_FAILED, type DrillResult, type DrillWorkflowInput } from '../../core/drills';
import { parseSetReference } from '../../core/set-names';
import { parseComponents, STORE_LABELS, type StoreName } from '../../core/stores';
import { runUrl } from '../../core/temporal-ui';
import { parseTier, type Tier } from '../../core/tiers';
import { connectTemporal, UserError } from '../connection';
import { failureDetails, rootFailure } from '../failure-details';
import { formatDuration } from '../format';
import { watchWorkflow } from '../watch';
import { requester, startRun, workflowIds } from '../runs';

export interface DrillOptions {
  tier?: string;
  component?: string;
  json?: boolean;
}

/** `drill [latest|<set>]`: restores the set into scratch targets, checks it, measures RTO and RPO, removes the scratch targets. */
export async function drillCommand(config: Config, reference: string, options: DrillOptions): Promise<number> {
  let parsed;
  let tier: Tier | undefined;
  let components: StoreName[] | undefined;
  try {
    parsed = parseSetReference(reference, config.backupDir);
    tier = options.tier ? parseTier(options.tier) : undefined;
    components = options.component ? parseComponents(options.component) : undefined;
  } catch (error) {
    throw new UserError((error as Error).message);
  }
  const input: DrillWorkflowInput = { reference, requestedBy: requester(), ...(tier ? { tier } : {}), ...(components ? { components } : {}) };
  const client = await connectTemporal(config);
  const workflowId = workflowIds.drill(parsed, tier);
  const what = tier && parsed.kind === 'latest' ? `the newest complete ${tier} set` : reference;
  try {
    const handle = await startRun(client, config, 'drillWorkflow', { kind: 'drill', tier }, (base) => ({
      ...base,
      workflowId,
      args: [input],
      staticSummary: `restore drill of ${what}`,
      staticDetails: [
        `**Restore drill** of ${what}: production is never touched.`,
        'Steps: `findDrillSet` → `verifySetChecksums` and each store\'s deep check → per store `restoreIntoScratch` (PostgreSQL into `scholaria_drill_<id>`, Redis into a private redis-server, Qdrant into `drill_<id>_` collections), checked against the manifest → `runDrillChecks` (DRILL_CHECKS_SQL) → `removeScratch` for every store, always → `recordDrill`, `recordAudit`.',
      ].join('\n\n'),
      memo: { reference, tier: tier ?? 'any' },
    }));
    const url = runUrl(config.temporal, workflowId, handle.firstExecutionRunId);
    if (!options.json) process.stdout.write(`Drill ${workflowId} started${url ? `: ${url}` : ''}\n`);
    try {
      print(await watchWorkflow(handle, options.json ? process.stderr : process.stdout), options.json);
      return 0;
    } catch (error) {
      const details = failureDetails<DrillResult>(error, DRILL_FAILED);
      if (details) print(details, options.json);
      throw new UserError(`drill ${workflowId} failed: ${rootFailure(error).message}`);
    }
  } finally {
    await client.connection.close();
  }
}

/** `RTO 42 s, RPO 3 h 5 min (schedule: 1 d)`, shared by `drill` and `status`. */
export function describeDrillTimes(result: Pick<DrillResult, 'rtoSeconds' | 'rpoSeconds' | 'rpoTargetSeconds'>): string {
  const rto = result.rtoSeconds === undefined ? 'RTO not reached' : `RTO ${formatDuration(result.rtoSeconds * 1000)}`;
  const target = result.rpoTargetSeconds === undefined ? '' : ` (${result.rpoSeconds > result.rpoTargetSeconds ? 'older than' : 'within'} the schedule's ${formatDuration(result.rpoTargetSeconds * 1000)})`;
  return `${rto}, RPO ${formatDuration(result.rpoSeconds * 1000)}${target}`;
}

function print(result: DrillResult, json?: boolean): void {
  if (json) {
    process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
    return;
  }
  const lines = [`Drill of ${result.set} (${result.tier}): ${result.outcome}${result.reason ? `: ${result.reason}` : ''}`, `  ${describeDrillTimes(result)}`];
  for (const [store, report] of Object.entries(result.stores) as [StoreName, DrillResult['stores'][StoreName]][]) {
    if (!report) continue;
    lines.push(`${STORE_LABELS[store]}: ${report.status}${report.error ? `: ${report.error}` : ''}${report.target ? ` (${report.target})` : ''}`);
    lines.push(...report.details.map((detail) => `  - ${detail}`));
  }
  for (const check of result.checks) lines.push(`${check.passed ? '✓' : '✖'} ${check.query.replace(/\s+/g, ' ')}${check.error ? ` (${check.error})` : ''}`);
  if (result.leftovers.length > 0) lines.push(...result.leftovers.map((leftover) => `✖ left behind: ${leftover}`));
  process.stdout.write(`${lines.join('\n')}\n`);
}
