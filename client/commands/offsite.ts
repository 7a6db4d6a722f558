/**
 * The offsite commands. The bucket's credentials are the workers' alone, so every look at the bucket
 * is a short workflow on a worker: `list --offsite`, `verify <set> --offsite`, `offsite sync`,
 * `prune --offsite`, and the offsite lines of `status` and `health-check`.
 */
import type { Client } from '@temporalio/client';
import type { Config } from '../../core/config';
import { offsiteLagByTier, OFFSITE_LAG_ALLOWED, type OffsiteSet, type OffsiteTierState } from '../../core/offsite';
import { timeOfSetName } from '../../core/set-names';
import { SCHEDULED_TIERS } from '../../core/schedules';
import { parseTier, type Tier } from '../../core/tiers';
import type { BackupWorkflowResult } from '../../core/workflow-types';
import { listSets } from '../../activities/repository/sets';
import { connectTemporal, UserError } from '../connection';
import { rootFailure } from '../failure-details';
import { formatBytes, formatDuration, formatTable } from '../format';
import { requester, startRun, workflowIds } from '../runs';

function requireOffsite(config: Config): void {
  if (!config.offsite) throw new UserError('offsite storage is not configured: set BACKUP_OFFSITE_URL=s3://bucket/prefix (and BACKUP_OFFSITE_ENDPOINT for MinIO and friends)');
}

async function withClient<T>(config: Config, what: string, work: (client: Client) => Promise<T>): Promise<T> {
  requireOffsite(config);
  const client = await connectTemporal(config);
  try {
    return await work(client);
  } catch (error) {
    throw new UserError(`${what} failed: ${rootFailure(error).message}`);
  } finally {
    await client.connection.close();
  }
}

/** The bucket's sets, through a worker. */
export async function listOffsite(client: Client, config: Config): Promise<OffsiteSet[]> {
  const handle = await startRun(client, config, 'offsiteListWorkflow', { kind: 'verify' }, (base) => ({
    ...base,
    workflowId: workflowIds.offsite('list'),
    args: [],
    staticSummary: 'list the sets in the bucket',
  }));
  return handle.result();
}

export async function offsiteListCommand(config: Config, options: { tier?: string; json?: boolean }): Promise<number> {
  const tier = parsedTier(options.tier);
  const sets = (await withClient(config, 'listing the bucket', (client) => listOffsite(client, config))).filter((set) => !tier || set.tier === tier);
  if (options.json) {
    process.stdout.write(`${JSON.stringify(sets, null, 2)}\n`);
    return 0;
  }
  if (sets.length === 0) {
    process.stdout.write(`No ${tier ? `${tier} ` : ''}backup sets in the bucket\n`);
    return 0;
  }
  const now = Date.now();
  const rows = [...sets]
    .sort((a, b) => b.name.localeCompare(a.name))
    .map((set) => [
      set.name,
      set.tier ?? '-',
      set.status,
      formatBytes(set.bytes),
      formatDuration(now - (timeOfSetName(set.name)?.getTime() ?? now)),
      set.checkedAt ? `checked ${set.checkedAt}` : (set.problem ?? ''),
    ]);
  process.stdout.write(`${formatTable(['NAME', 'TIER', 'STATUS', 'SIZE', 'AGE', 'NOTE'], rows)}\n`);
  return 0;
}

export async function offsiteVerifyCommand(config: Config, setName: string, options: { json?: boolean }): Promise<number> {
  const result = await withClient(config, `verify of ${setName} offsite`, async (client) => {
    const handle = await startRun(client, config, 'offsiteVerifyWorkflow', { kind: 'verify' }, (base) => ({
      ...base,
      workflowId: workflowIds.offsite('verify'),
      args: [{ setName }],
      staticSummary: `read every object of ${setName} in the bucket back against SHA256SUMS, then the stores' deep checks of that copy`,
    }));
    return handle.result();
  });
  if (options.json) {
    process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
    return 0;
  }
  process.stdout.write(`${result.set}: ${result.objects} objects (${formatBytes(result.bytes)}) read back from the bucket, every one matches SHA256SUMS\n`);
  for (const check of result.checks ?? []) process.stdout.write(`  ✓ ${check}\n`);
  for (const skipped of result.notChecked ?? []) process.stdout.write(`  not checked: ${skipped}\n`);
  return 0;
}

export async function offsiteSyncCommand(config: Config, options: { json?: boolean }): Promise<number> {
  const result = await withClient(config, 'offsite sync', async (client) => {
    const handle = await startRun(client, config, 'offsiteSyncWorkflow', { kind: 'backup' }, (base) => ({
      ...base,
      workflowId: workflowIds.offsite('sync'),
      args: [{ requestedBy: requester() }],
      staticSummary: 'offsite sync: copy every complete local set the bucket lacks',
    }));
    return handle.result();
  });
  if (options.json) {
    process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
    return 0;
  }
  for (const copied of result.copied) process.stdout.write(`copied ${copied.set} to ${copied.url} (${copied.objects} objects, ${formatBytes(copied.bytes)})\n`);
  process.stdout.write(`${result.copied.length} sets copied; ${result.present.length} were already complete in the bucket\n`);
  return 0;
}

export async function offsitePruneCommand(config: Config, options: { tier?: string; yes?: boolean; json?: boolean }): Promise<number> {
  const tier = parsedTier(options.tier);
  const apply = options.yes ?? false;
  const report = await withClient(config, 'offsite prune', async (client) => {
    const handle = await startRun(client, config, 'offsitePruneWorkflow', { kind: 'prune' }, (base) => ({
      ...base,
      workflowId: workflowIds.offsite('prune'),
      args: [{ tier, apply, requestedBy: requester() }],
      staticSummary: apply ? 'offsite prune: delete the offsite sets the retention policy gives up' : 'offsite prune dry run: deletes nothing',
    }));
    return handle.result();
  });
  if (options.json) {
    process.stdout.write(`${JSON.stringify({ applied: apply, ...report }, null, 2)}\n`);
    return 0;
  }
  const verb = apply ? 'deleted' : 'would delete';
  process.stdout.write(
    `${formatTable(['SET', 'DECISION', 'WHY'], report.decisions.map((decision) => [decision.name, decision.action === 'delete' ? verb : 'keep', decision.reason]))}\n`,
  );
  const deletions = report.decisions.filter((decision) => decision.action === 'delete').length;
  process.stdout.write(apply ? `${report.deleted.length} offsite sets deleted.\n` : `${deletions} offsite sets would be deleted; nothing was changed. Run again with --yes to delete them.\n`);
  return 0;
}

/** Per scheduled tier: the newest offsite set and the lag behind BACKUP_DIR; `ok` false when the bucket cannot be read or lags. */
export async function offsiteHealth(client: Client, config: Config): Promise<{ ok: boolean; detail: string; tiers: OffsiteTierState[] }> {
  let offsite: OffsiteSet[];
  try {
    offsite = await listOffsite(client, config);
  } catch (error) {
    return { ok: false, detail: `the bucket cannot be read: ${rootFailure(error).message}`, tiers: [] };
  }
  const local = (await listSets(config.backupDir).catch(() => [])).flatMap((set) =>
    set.manifest?.status === 'complete' ? [{ name: set.name, tier: set.manifest.tier }] : [],
  );
  const tiers = offsiteLagByTier(local, offsite, SCHEDULED_TIERS);
  const lagging = tiers.filter((state) => state.behind > OFFSITE_LAG_ALLOWED);
  const detail = tiers.map((state) => `${state.tier}: ${state.newestOffsite ?? 'none'}${state.behind > 0 ? ` (${state.behind} local sets newer)` : ''}`).join('; ');
  return { ok: lagging.length === 0, detail: lagging.length === 0 ? detail : `the offsite copy lags: ${detail}`, tiers };
}

/** The line `backup` prints about the offsite copy. */
export function describeOffsiteCopy(offsite: NonNullable<BackupWorkflowResult['offsite']>): string {
  return offsite.status === 'copied'
    ? `Offsite:    copied to ${offsite.url} (${offsite.objects} objects, ${formatBytes(offsite.bytes ?? 0)})`
    : `Offsite:    COPY FAILED (${offsite.error}); the local set is complete; run \`scholaria-backup offsite sync\` once ${offsite.url} is reachable`;
}

function parsedTier(text: string | undefined): Tier | undefined {
  try {
    return text ? parseTier(text) : undefined;
  } catch (error) {
    throw new UserError((error as Error).message);
  }
}
