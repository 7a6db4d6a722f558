import { writeFileSync } from 'node:fs';
import { bundleWorkflowCode } from '@temporalio/worker';

/**
 * Bundles the workflows into one file for `BACKUP_WORKFLOW_BUNDLE`, so workers start without webpack:
 * once per image build, test suite or benchmark. Only the bundler's warnings and errors are shown.
 */
export async function bundleWorkflows(output: string): Promise<number> {
  const { code } = await bundleWorkflowCode({
    workflowsPath: require.resolve('../workflows'),
    logger: {
      log: () => undefined,
      trace: () => undefined,
      debug: () => undefined,
      info: () => undefined,
      warn: (message: string) => process.stderr.write(`[bundle] ${message}\n`),
      error: (message: string) => process.stderr.write(`[bundle] ${message}\n`),
    },
  });
  writeFileSync(output, code);
  return code.length;
}
