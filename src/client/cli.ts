/**
 * `scholaria-backup`: starts and watches backup workflows, reads the sets in BACKUP_DIR, runs the
 * worker. Every failure ends as one line on stderr and a non-zero exit.
 */
import { Command, CommanderError, Option } from 'commander';
import { ConfigError, loadConfig, type Config } from '../core/config';
import { TIERS } from '../core/tiers';
import { STORE_NAMES } from '../core/stores';
import { redactSecrets, registerSecrets } from '../logging';
import { runWorker } from '../worker/worker';
import { backupCommand } from './commands/backup';
import { listCommand, showCommand } from './commands/sets';
import { restoreCommand } from './commands/restore';
import { verifyCommand } from './commands/verify';
import { UserError } from './connection';

function config(): Config {
  const loaded = loadConfig(process.env);
  registerSecrets(Object.values(loaded.storeUrls), [loaded.qdrant.apiKey, loaded.temporal.apiKey]);
  return loaded;
}

function program(): Command {
  const cli = new Command('scholaria-backup')
    .description('Verified backups and safe restores of PostgreSQL, Redis and Qdrant, run as Temporal workflows')
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();

  cli
    .command('backup')
    .description('take a backup set now and show its progress')
    .addOption(new Option('--tier <tier>', `one of ${TIERS.join(', ')}`).default('manual'))
    .option('--component <list>', `comma-separated stores (${STORE_NAMES.join(',')}); default: BACKUP_COMPONENTS`)
    .option('--json', 'print the result as JSON')
    .option('--no-wait', 'print the workflow id and return at once')
    .action(async (options) => finish(await backupCommand(config(), options)));

  cli
    .command('list')
    .description('the backup sets in BACKUP_DIR, newest first')
    .option('--json', 'print JSON')
    .action(async (options) => finish(await listCommand(config(), options)));

  cli
    .command('show')
    .argument('<set>', 'latest, a set name, or its path')
    .description("a set's manifest, readable")
    .option('--json', 'print the manifest as JSON')
    .action(async (reference: string, options) => finish(await showCommand(config(), reference, options)));

  cli
    .command('verify')
    .argument('<set>', 'latest, a set name, or its path')
    .description('re-check every checksum of a set and the deep checks of each store')
    .option('--json', 'print JSON')
    .action(async (reference: string, options) => finish(await verifyCommand(config(), reference, options)));

  cli
    .command('restore')
    .argument('<set>', 'latest, a set name, or its path')
    .description('restore stores from a set: verified first, rolled back if any store fails')
    .option('--component <list>', `comma-separated stores (${STORE_NAMES.join(',')}); default: every store the set holds`)
    .option('--dry-run', 'check everything and print the plan; change nothing')
    .option('--yes', 'do not ask for confirmation')
    .option('--force', 'end sessions connected to the target database when they block the swap')
    .option('--keep-safety', 'keep the safety snapshots (e.g. the pre-restore database) after success')
    .option('--json', 'print the result as JSON')
    .action(async (reference: string, options) => finish(await restoreCommand(config(), reference, options)));

  cli
    .command('worker')
    .description('run the Temporal worker until SIGINT/SIGTERM')
    .action(async () => {
      await runWorker(config(), { workflowBundlePath: process.env.BACKUP_WORKFLOW_BUNDLE });
      finish(0);
    });
  return cli;
}

function finish(code: number): void {
  process.exitCode = code;
}

export async function main(argv: string[]): Promise<void> {
  try {
    await program().parseAsync(argv);
  } catch (error) {
    if (error instanceof CommanderError) {
      process.exitCode = error.exitCode === 0 ? 0 : 2;
      return;
    }
    const known = error instanceof UserError || error instanceof ConfigError || (error as Error).name in KNOWN_ERRORS;
    const message = redactSecrets((error as Error).message ?? String(error));
    process.stderr.write(`scholaria-backup: ${known ? message : `unexpected error: ${message}`}\n`);
    process.exitCode = 1;
  }
}

/** Repository errors are expected conditions with messages written for people. */
const KNOWN_ERRORS = { SetNotFound: true, ChecksumMismatch: true, BackupDirUnusable: true };

if (require.main === module) {
  void main(process.argv);
}
