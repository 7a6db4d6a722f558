import { WorkflowExecutionAlreadyStartedError } from '@temporalio/client';
import { storeUrl, type Config } from '../../core/config';
import { capitalize, parseComponents, STORE_LABELS, type StoreName } from '../../core/stores';
import { parseTier } from '../../core/tiers';
import { PARTIAL_BACKUP, type BackupWorkflowInput, type BackupWorkflowResult } from '../../core/workflow-types';
import { runUrl } from '../../core/temporal-ui';
import { connectTemporal, UserError } from '../connection';
import { failureDetails, rootFailure } from '../failure-details';
import { describeOffsiteCopy } from './offsite';
import { formatBytes } from '../format';
import { watchWorkflow } from '../watch';
import { StoppedWaiting } from '../wait-through-outages';
import { requester, startRun, workflowIds } from '../runs';

export interface BackupOptions {
  tier: string;
  component?: string;
  json?: boolean;
  wait: boolean;
}

export async function backupCommand(config: Config, options: BackupOptions): Promise<number> {
  let input: BackupWorkflowInput;
  try {
    input = {
      tier: parseTier(options.tier),
      components: options.component ? parseComponents(options.component) : config.components,
      requestedBy: requester(),
    };
  } catch (error) {
    throw new UserError((error as Error).message);
  }
  for (const store of input.components) storeUrl(config, store);

  const client = await connectTemporal(config);
  const workflowId = workflowIds.backup(input.tier);
  const stores = input.components.map((store) => STORE_LABELS[store]).join(', ');
  const handle = await startRun(client, config, 'backupWorkflow', { kind: 'backup', tier: input.tier }, (base) => ({
    ...base,
    workflowId,
    args: [input],
    staticSummary: `${input.tier} backup of ${stores}`,
    staticDetails: backupDetails(input),
    memo: { stores: input.components },
  })).catch((error: unknown) => {
    // Backups are named to the second: a second request of the tier within it is that same backup.
    if (error instanceof WorkflowExecutionAlreadyStartedError) {
      throw new UserError(`a ${input.tier} backup was already started this second (${workflowId}): this request was skipped; follow that one with \`scholaria-backup status\``);
    }
    throw error;
  });
  const url = runUrl(config.temporal, workflowId, handle.firstExecutionRunId);
  if (!options.wait) {
    process.stdout.write(options.json ? `${JSON.stringify({ workflowId, runId: handle.firstExecutionRunId, url })}\n` : `${workflowId}\n`);
    return 0;
  }
  if (!options.json) process.stdout.write(`Backup ${workflowId} started${url ? `: ${url}` : ''}\n`);
  try {
    const result = await watchWorkflow(handle, options.json ? process.stderr : process.stdout, undefined, url);
    printResult(result, workflowId, url, options.json);
    return 0;
  } catch (error) {
    if (error instanceof StoppedWaiting) throw error;
    const partial = failureDetails<BackupWorkflowResult>(error, PARTIAL_BACKUP);
    if (partial) {
      printResult(partial, workflowId, url, options.json);
      process.stderr.write(`scholaria-backup: ${rootFailure(error).message}\n`);
      return 1;
    }
    throw new UserError(`backup ${workflowId} failed: ${rootFailure(error).message}`);
  } finally {
    await client.connection.close();
  }
}

/** What the Web UI shows under the run's summary: the runbook of a backup, with the activity names its history shows. */
export function backupDetails(input: BackupWorkflowInput): string {
  const stores = input.components.map((store) => STORE_LABELS[store]).join(', ');
  const names = (verb: string) => input.components.map((store) => `\`${verb}${capitalize(store)}\``).join(', ');
  return [
    `**${input.tier}** backup of ${stores} into one set \`scholaria_backup_<UTC time>\` in BACKUP_DIR (search attribute BackupSet once it is staged).`,
    `Steps: \`requestBackupLock\` (wait for the backup lock: one backup or prune at a time) → ${names('probe')} → \`prepareBackupSet\` → per store, in parallel, dump then read back: ${input.components.map((store) => `\`backup${capitalize(store)}\` → \`verify${capitalize(store)}\``).join(', ')} → \`sealBackupSet\` (re-hash, SHA256SUMS, manifest) → \`applyRetention\`.`,
    `A store that fails leaves a partial set naming it, and the run fails with that store's reason; when every store fails, no set is written.`,
  ].join('\n\n');
}

function printResult(result: BackupWorkflowResult, workflowId: string, url: string | undefined, json?: boolean): void {
  if (json) {
    process.stdout.write(`${JSON.stringify({ workflowId, url, ...result }, null, 2)}\n`);
    return;
  }
  const lines = [
    `Backup set: ${result.set.path}`,
    `Status:     ${result.set.status}`,
    `Size:       ${formatBytes(result.set.bytes)}`,
  ];
  for (const [store, outcome] of Object.entries(result.stores) as [StoreName, NonNullable<BackupWorkflowResult['stores'][StoreName]>][]) {
    if (outcome.status === 'ok') {
      lines.push(`  ${STORE_LABELS[store].padEnd(11)} ${formatBytes(outcome.bytes ?? 0).padStart(9)}  verified`);
      for (const check of outcome.checks ?? []) lines.push(`      ✓ ${check}`);
      for (const note of outcome.notes ?? []) lines.push(`      note: ${note}`);
    } else {
      lines.push(`  ${STORE_LABELS[store].padEnd(11)}    FAILED  ${outcome.error}`);
    }
  }
  if (result.set.status === 'complete') lines.push(`Verification: passed (every file checksummed once written and checked at the seal; deep checks above)`);
  if (result.offsite) lines.push(describeOffsiteCopy(result.offsite));
  lines.push(`Workflow:   ${workflowId}${url ? `  ${url}` : ''}`);
  process.stdout.write(`${lines.join('\n')}\n`);
}
