import { createInterface } from 'node:readline/promises';
import type { Config } from '../../core/config';
import { storeUrl } from '../../core/config';
import { parseDatabaseName } from '../../core/database-names';
import { parseSetReference } from '../../core/set-names';
import { parseComponents, STORE_LABELS, type StoreName } from '../../core/stores';
import { RESTORE_FAILED, type RestoreWorkflowInput, type RestoreWorkflowResult, type StoreRestoreReport } from '../../core/workflow-types';
import { runUrl } from '../../core/temporal-ui';
import { connectTemporal, UserError } from '../connection';
import { failureDetails, rootFailure } from '../failure-details';
import { watchWorkflow } from '../watch';
import { reportOfCancelledRestore } from '../cancelled-restore';
import { StoppedWaiting } from '../wait-through-outages';
import { requester, startRun, workflowIds } from '../runs';

export interface RestoreOptions {
  component?: string;
  dryRun?: boolean;
  yes?: boolean;
  force?: boolean;
  keepSafety?: boolean;
  asDatabase?: string;
  from?: 'local' | 'offsite';
  json?: boolean;
}

export async function restoreCommand(config: Config, reference: string, options: RestoreOptions): Promise<number> {
  let parsed;
  let components: StoreName[] | undefined;
  try {
    parsed = parseSetReference(reference, config.backupDir);
    components = options.component ? parseComponents(options.component) : undefined;
    if (options.asDatabase !== undefined) {
      parseDatabaseName(options.asDatabase);
      if (components?.length !== 1 || components[0] !== 'postgres') throw new Error('--as-database restores PostgreSQL only: add --component postgres');
    }
  } catch (error) {
    throw new UserError((error as Error).message);
  }
  for (const store of components ?? []) storeUrl(config, store);
  const dryRun = options.dryRun ?? false;
  // Beside the live database nothing is replaced, so there is nothing to confirm.
  if (!dryRun && !options.yes && options.asDatabase === undefined) await confirm(reference, components);

  const input: RestoreWorkflowInput = {
    reference,
    components,
    dryRun,
    force: options.force ?? false,
    keepSafety: options.keepSafety ?? false,
    requestedBy: requester(),
    ...(options.asDatabase === undefined ? {} : { asDatabase: options.asDatabase }),
    ...(options.from ? { from: options.from } : {}),
  };
  const client = await connectTemporal(config);
  const workflowId = workflowIds.restore(parsed);
  try {
    const stores = components ? components.map((store) => STORE_LABELS[store]).join(', ') : 'every store the set holds';
    const what = options.asDatabase === undefined ? stores : `${stores} into the new database ${options.asDatabase}, beside the live one`;
    const handle = await startRun(client, config, 'restoreWorkflow', { kind: 'restore' }, (base) => ({
      ...base,
      workflowId,
      args: [input],
      staticSummary: `${dryRun ? 'dry run of a restore' : 'restore'} of ${what} from ${reference}`,
      staticDetails: restoreDetails(reference, what, dryRun),
      memo: { reference, stores: components ?? 'all in the set', dryRun },
    }));
    const url = runUrl(config.temporal, workflowId, handle.firstExecutionRunId);
    if (!options.json) process.stdout.write(`${dryRun ? 'Dry run' : 'Restore'} ${workflowId} started${url ? `: ${url}` : ''}\n`);
    try {
      const result = await watchWorkflow(handle, options.json ? process.stderr : process.stdout, undefined, url);
      print(result, options.json);
      return 0;
    } catch (error) {
      if (error instanceof StoppedWaiting) throw error;
      const details =
        failureDetails<RestoreWorkflowResult>(error, RESTORE_FAILED) ??
        failureDetails<RestoreWorkflowResult>(error, 'PreflightFailed') ??
        (await reportOfCancelledRestore(handle, error));
      if (details) print(details, options.json);
      throw new UserError(`${dryRun ? 'dry run' : 'restore'} ${workflowId} failed: ${rootFailure(error).message}`);
    }
  } finally {
    await client.connection.close();
  }
}

/** What the Web UI shows under the run's summary: the runbook of a restore, with the activity names its history shows. */
function restoreDetails(reference: string, what: string, dryRun: boolean): string {
  return [
    `${dryRun ? '**Dry run** (changes nothing) of a restore' : '**Restore**'} of ${what} from \`${reference}\` (search attribute BackupSet once it is resolved).`,
    `Steps: \`resolveBackupSet\` → \`verifySetChecksums\` and each store's deep check (\`verifyPostgres\`, \`verifyRedis\`, …) → \`preflight<Store>\`${dryRun ? ' → stop with the plan.' : ' → per store: `safetySnapshot<Store>` → `restore<Store>` → `summarize<Store>`.'}`,
    ...(dryRun ? [] : ['If any store fails or the run is cancelled, every store already changed is rolled back to its safety snapshot (`rollback<Store>`), in reverse order; the failure names the store and its reason.']),
  ].join('\n\n');
}

/** Asks on the terminal; without one, refuses: a restore replaces data and must be meant. */
async function confirm(reference: string, components: StoreName[] | undefined): Promise<void> {
  const what = components ? components.map((store) => STORE_LABELS[store]).join(', ') : 'every store the set holds';
  if (!process.stdin.isTTY) {
    throw new UserError(`refusing to restore ${what} from ${reference} without confirmation: no terminal to ask; pass --yes (or try --dry-run first)`);
  }
  const prompt = createInterface({ input: process.stdin, output: process.stdout });
  try {
    const answer = await prompt.question(`Restore ${what} from ${reference}? Current data will be replaced (a safety snapshot is taken first). Type "yes" to go on: `);
    if (answer.trim().toLowerCase() !== 'yes') throw new UserError('restore not confirmed; nothing was changed');
  } finally {
    prompt.close();
  }
}

function print(result: RestoreWorkflowResult, json?: boolean): void {
  if (json) {
    process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
    return;
  }
  const lines = [`Set: ${result.set}`, ...result.checks.map((check) => `  ✓ ${check}`)];
  for (const [store, report] of Object.entries(result.stores) as [StoreName, StoreRestoreReport][]) {
    lines.push('', `${STORE_LABELS[store]}: ${report.status}${report.error ? `: ${report.error}` : ''}`);
    if (report.rollbackError) lines.push(`  ✖ rollback failed: ${report.rollbackError}`);
    lines.push(...report.plan.details.map((detail) => `  ${detail}`));
    if (report.plan.problems.length > 0) lines.push(...report.plan.problems.map((problem) => `  ✖ ${problem}`));
    if (result.dryRun) lines.push(...report.plan.plan.map((step, index) => `  ${index + 1}. ${step}`));
    lines.push(...report.details.map((detail) => `  - ${detail}`));
  }
  if (result.dryRun) lines.push('', 'Dry run: nothing was changed.');
  process.stdout.write(`${lines.join('\n')}\n`);
}
