/**
 * Bundles the workflows once, when the image is built, so the worker starts without webpack
 * (BACKUP_WORKFLOW_BUNDLE points at the file). The bundle comes from the same sources as the rest of
 * the image, so it cannot drift from them.
 *
 *   node --import tsx docker/bundle-workflows.ts <output.js>
 */
import { bundleWorkflows } from '../worker/bundle';

if (require.main === module) {
  const output = process.argv[2];
  if (!output) {
    process.stderr.write('usage: node --import tsx docker/bundle-workflows.ts <output.js>\n');
    process.exit(2);
  }
  bundleWorkflows(output).then(
    (bytes) => process.stdout.write(`workflow bundle: ${output} (${bytes} bytes)\n`),
    (error: Error) => {
      process.stderr.write(`bundling the workflows failed: ${error.message}\n`);
      process.exit(1);
    },
  );
}
