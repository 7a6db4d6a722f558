/**
 * `scholaria-backup`: starts and watches backup workflows, reads the sets in BACKUP_DIR, runs the
 * worker. Every failure ends as one line on stderr and a non-zero exit.
 */
import { Command, CommanderError, Option } from 'commander';
import { ConfigError, fileModesOf, loadConfig, type Config } from '../core/config';
import { RUN_KINDS, RUN_OUTCOMES } from '../core/search-attributes';
import { TIERS } from '../core/tiers';
import { STORE_NAMES } from '../core/stores';
import { processLogger } from '../activities/logging';
import { redactSecrets, registerSecrets } from '../core/redaction';
import { backupCommand } from './commands/backup';
import { listCommand, showCommand } from './commands/sets';
import { restoreCommand } from './commands/restore';
import { verifyCommand } from './commands/verify';
import { drillCommand } from './commands/drill';
import { healthCheckCommand } from './commands/health';
import { pruneCommand } from './commands/prune';
import { offsiteListCommand, offsitePruneCommand, offsiteSyncCommand, offsiteVerifyCommand } from './commands/offsite';
import { schedulesCommand } from './commands/schedules';
import { runsCommand, statusCommand } from './commands/status';
import { connectTemporal, UserError } from './connection';
import { StoppedWaiting } from './wait-through-outages';
import { applySchedules } from './schedules';

function config(): Config {
  const loaded = loadConfig(process.env);
  registerSecrets(Object.values(loaded.storeUrls), [loaded.qdrant.apiKey, loaded.temporal.apiKey]);
  process.umask(fileModesOf(loaded).umask);
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
    .description('the backup sets in BACKUP_DIR (or, with --offsite, in the bucket), newest first')
    .option('--tier <tier>', `only sets of this tier (${TIERS.join(', ')})`)
    .option('--offsite', 'the sets in the bucket, complete or not, with sizes')
    .option('--json', 'print JSON')
    .action(async (options) => finish(await (options.offsite ? offsiteListCommand : listCommand)(config(), options)));

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
    .option('--deep', 'an encrypted set must also decrypt on the worker (fail without BACKUP_ENCRYPTION_IDENTITY_FILE)')
    .option('--offsite', 'read every object of the set in the bucket back against its SHA256SUMS, then run the deep checks on that copy')
    .option('--json', 'print JSON')
    .action(async (reference: string, options) =>
      finish(await (options.offsite ? offsiteVerifyCommand(config(), reference, options) : verifyCommand(config(), reference, options))),
    );

  cli
    .command('restore')
    .argument('<set>', 'latest, a set name, or its path')
    .description('restore stores from a set: verified first, rolled back if any store fails')
    .option('--component <list>', `comma-separated stores (${STORE_NAMES.join(',')}); default: every store the set holds`)
    .option('--dry-run', 'check everything and print the plan; change nothing')
    .option('--yes', 'do not ask for confirmation')
    .option('--force', 'end sessions connected to the target database when they block the swap')
    .option('--keep-safety', 'keep the safety snapshots (e.g. the pre-restore database) after success')
    .option('--as-database <name>', 'with --component postgres: restore into this new database beside the live one, which is left untouched')
    .addOption(new Option('--from <where>', 'offsite: download the set from the bucket first (latest comes from there anyway when BACKUP_DIR has no complete set)').choices(['local', 'offsite']))
    .option('--json', 'print the result as JSON')
    .action(async (reference: string, options) => finish(await restoreCommand(config(), reference, options)));

  cli
    .command('drill')
    .argument('[set]', 'latest (with --tier: the newest complete set of that tier), a set name, or its path', 'latest')
    .description('restore a set into scratch targets production never sees, check it, measure RTO and RPO, remove the scratch targets')
    .option('--tier <tier>', `with latest: the newest complete set of this tier (${TIERS.join(', ')})`)
    .option('--component <list>', `comma-separated stores (${STORE_NAMES.join(',')}); default: every store the set holds`)
    .option('--json', 'print the result as JSON')
    .action(async (reference: string, options) => finish(await drillCommand(config(), reference, options)));

  const schedules = cli.command('schedules').description('the daily, weekly and monthly Temporal Schedules');
  schedules
    .command('apply')
    .description('create or update the three schedules from the configuration (idempotent; paused ones stay paused)')
    .option('--json', 'print JSON')
    .action(async (options) => finish(await schedulesCommand(config(), 'apply', undefined, options)));
  schedules
    .command('list')
    .description('each schedule with its next runs and last result')
    .option('--json', 'print JSON')
    .action(async (options) => finish(await schedulesCommand(config(), 'list', undefined, options)));
  for (const [action, description] of [
    ['pause', 'pause a schedule (daily, weekly, monthly or all)'],
    ['resume', 'resume a paused schedule (daily, weekly, monthly or all)'],
  ] as const) {
    schedules
      .command(action)
      .argument('<tier>', 'daily, weekly, monthly or all')
      .option('--note <text>', 'why, shown in the Temporal UI')
      .description(description)
      .action(async (tier: string, options) => finish(await schedulesCommand(config(), action, tier, options)));
  }
  schedules
    .command('trigger')
    .argument('<tier>', 'daily, weekly or monthly')
    .description("run the tier's backup now through its schedule")
    .action(async (tier: string) => finish(await schedulesCommand(config(), 'trigger', tier, {})));
  schedules
    .command('backfill')
    .argument('<tier>', 'daily, weekly, monthly or all')
    .requiredOption('--from <time>', 'start, ISO 8601')
    .requiredOption('--to <time>', 'end, ISO 8601')
    .description('run the backups the calendar had between two moments')
    .action(async (tier: string, options) => finish(await schedulesCommand(config(), 'backfill', tier, options)));

  cli
    .command('prune')
    .description('apply retention: print what would be deleted and why; delete only with --yes')
    .option('--tier <tier>', `only this tier (${TIERS.join(', ')})`)
    .option('--offsite', 'apply the same retention to the sets in the bucket')
    .option('--yes', 'delete the sets the policy gives up')
    .option('--json', 'print JSON')
    .action(async (options) => finish(await (options.offsite ? offsitePruneCommand : pruneCommand)(config(), options)));

  cli
    .command('offsite')
    .description('the offsite copies in the bucket (BACKUP_OFFSITE_URL)')
    .command('sync')
    .description('copy every complete set of BACKUP_DIR that is missing or incomplete in the bucket (the catch-up after an outage)')
    .option('--json', 'print JSON')
    .action(async (options) => finish(await offsiteSyncCommand(config(), options)));

  cli
    .command('status')
    .description('schedules, last run per tier, running workflows with progress, storage, last restore')
    .option('--json', 'print JSON')
    .action(async (options) => finish(await statusCommand(config(), options)));

  cli
    .command('runs')
    .description("this tool's runs in Temporal, newest first, filtered by their search attributes (the query works in the Web UI too)")
    .option('--kind <kind>', RUN_KINDS.join(', '))
    .option('--tier <tier>', TIERS.join(', '))
    .option('--outcome <outcome>', RUN_OUTCOMES.join(', '))
    .option('--set <name>', 'runs that wrote, restored or verified this set')
    .option('--limit <n>', 'at most this many runs', '20')
    .option('--json', 'print JSON')
    .action(async (options) => finish(await runsCommand(config(), options)));

  cli
    .command('health-check')
    .description('is everything in place for the next backup, and is the last one there? exit 0 when healthy')
    .option('--json', 'print JSON for monitors')
    .action(async (options) => finish(await healthCheckCommand(config(), options)));

  cli
    .command('worker')
    .description('run the Temporal worker until SIGINT/SIGTERM; applies the schedules first unless BACKUP_APPLY_SCHEDULES=false')
    .option('--no-schedules', 'do not create or update the schedules at start')
    .action(async (options: { schedules: boolean }) => {
      const loaded = config();
      if (options.schedules && loaded.schedule.applyAtStart) await applySchedulesAtStart(loaded);
      // Loaded here, not at the top: the worker brings the SDK's worker and every activity's libraries,
      // which every other command would otherwise load before it prints anything (0.6 s of a start).
      const { runWorker } = await import('../worker/worker');
      await runWorker(loaded, { workflowBundlePath: process.env.BACKUP_WORKFLOW_BUNDLE });
      finish(0);
    });
  return cli;
}

async function applySchedulesAtStart(loaded: Config): Promise<void> {
  const client = await connectTemporal(loaded);
  try {
    const outcomes = await applySchedules(client, loaded);
    processLogger(loaded.logLevel, 'worker').info({ schedules: outcomes }, 'schedules applied');
  } finally {
    await client.connection.close();
  }
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
    if (error instanceof StoppedWaiting) {
      process.stderr.write(`scholaria-backup: ${redactSecrets(error.message)}\n`);
      process.exitCode = error.exitCode;
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
