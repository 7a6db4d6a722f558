import type { Config } from '../../core/config';
import { startAttributes, startWithSearchAttributes } from '../../core/search-attributes';
import { compactTimeOf, parseSetReference } from '../../core/set-names';
import type { VerifyWorkflowResult } from '../../workflows/verify';
import { runUrl } from '../../core/temporal-ui';
import { connectTemporal, UserError } from '../connection';
import { rootFailure } from '../failure-details';
import { watchWorkflow } from '../watch';

export async function verifyCommand(config: Config, reference: string, options: { json?: boolean }): Promise<number> {
  let parsed;
  try {
    parsed = parseSetReference(reference, config.backupDir);
  } catch (error) {
    throw new UserError((error as Error).message);
  }
  const client = await connectTemporal(config);
  const workflowId = `verify-${parsed.kind === 'latest' ? 'latest' : parsed.name}-${compactTimeOf(new Date())}`;
  try {
    const handle = await startWithSearchAttributes(
      (typedSearchAttributes) =>
        client.workflow.start('verifyWorkflow', {
          workflowId,
          taskQueue: config.temporal.taskQueue,
          args: [{ reference }],
          staticSummary: `verify ${reference}`,
          staticDetails: `Re-checks \`${reference}\` as a restore would: \`verifySetChecksums\` (every file against SHA256SUMS), then each store's deep check (\`verify<Store>\`), whose counts must equal the manifest's. Changes nothing.`,
          memo: { reference },
          typedSearchAttributes,
        }),
      startAttributes('verify'),
      (line) => process.stderr.write(`scholaria-backup: warning: ${line}\n`),
    );
    const url = runUrl(config.temporal, workflowId, handle.firstExecutionRunId);
    if (!options.json) process.stdout.write(`Verifying ${reference} (${workflowId})${url ? `: ${url}` : ''}\n`);
    let result: VerifyWorkflowResult;
    try {
      result = await watchWorkflow<VerifyWorkflowResult>(client, handle, options.json ? process.stderr : process.stdout);
    } catch (error) {
      throw new UserError(`verification failed: ${rootFailure(error).message}`);
    }
    if (options.json) {
      process.stdout.write(`${JSON.stringify({ ok: true, workflowId, ...result }, null, 2)}\n`);
    } else {
      process.stdout.write(`${[`${result.name} (${result.status}): verified`, ...result.checks.map((check) => `  ✓ ${check}`)].join('\n')}\n`);
    }
    return 0;
  } finally {
    await client.connection.close();
  }
}
