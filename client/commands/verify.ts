import type { Config } from '../../core/config';
import { parseSetReference } from '../../core/set-names';
import type { VerifyWorkflowResult } from '../../core/workflow-types';
import { runUrl } from '../../core/temporal-ui';
import { connectTemporal, UserError } from '../connection';
import { rootFailure } from '../failure-details';
import { watchWorkflow } from '../watch';
import { StoppedWaiting } from '../wait-through-outages';
import { requester, startRun, workflowIds } from '../runs';

export async function verifyCommand(config: Config, reference: string, options: { json?: boolean; deep?: boolean }): Promise<number> {
  let parsed;
  try {
    parsed = parseSetReference(reference, config.backupDir);
  } catch (error) {
    throw new UserError((error as Error).message);
  }
  const client = await connectTemporal(config);
  const workflowId = workflowIds.verify(parsed);
  try {
    const handle = await startRun(client, config, 'verifyWorkflow', { kind: 'verify' }, (base) => ({
      ...base,
      workflowId,
      args: [{ reference, deep: options.deep ?? false, requestedBy: requester() }],
      staticSummary: `verify ${reference}`,
      staticDetails: `Re-checks \`${reference}\` as a restore would: \`verifySetChecksums\` (every file against SHA256SUMS), then each store's deep check (\`verify<Store>\`), whose counts must equal the manifest's. Changes nothing.`,
      memo: { reference },
    }));
    const url = runUrl(config.temporal, workflowId, handle.firstExecutionRunId);
    if (!options.json) process.stdout.write(`Verifying ${reference} (${workflowId})${url ? `: ${url}` : ''}\n`);
    let result: VerifyWorkflowResult;
    try {
      result = await watchWorkflow(handle, options.json ? process.stderr : process.stdout, undefined, url);
    } catch (error) {
      if (error instanceof StoppedWaiting) throw error;
      throw new UserError(`verification failed: ${rootFailure(error).message}`);
    }
    if (options.json) {
      process.stdout.write(`${JSON.stringify({ ok: true, workflowId, ...result }, null, 2)}\n`);
    } else {
      const lines = [
        `${result.name} (${result.status}): ${result.notChecked ? 'checksums verified; deep checks not run' : 'verified'}`,
        ...result.checks.map((check) => `  ✓ ${check}`),
        ...(result.notChecked ?? []).map((missing) => `  - not checked: ${missing}`),
      ];
      process.stdout.write(`${lines.join('\n')}\n`);
    }
    return 0;
  } finally {
    await client.connection.close();
  }
}
