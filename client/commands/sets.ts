import type { Config } from '../../core/config';
import { filesOf, totalBytes, type Manifest } from '../../core/manifest';
import { parseSetReference, timeOfSetName } from '../../core/set-names';
import { STORE_LABELS, type StoreName } from '../../core/stores';
import { isTier, TIERS } from '../../core/tiers';
import { listSets, resolveSet } from '../../activities/repository/sets';
import { UserError } from '../connection';
import { formatBytes, formatDuration, formatTable } from '../format';

export async function listCommand(config: Config, options: { tier?: string; json?: boolean }): Promise<number> {
  if (options.tier !== undefined && !isTier(options.tier)) throw new UserError(`unknown tier "${options.tier}"; choose from ${TIERS.join(', ')}`);
  const sets = (await listSets(config.backupDir)).filter((set) => options.tier === undefined || set.manifest?.tier === options.tier);
  if (options.json) {
    const rows = sets.map((set) => ({
      name: set.name,
      path: set.path,
      tier: set.manifest?.tier ?? null,
      status: set.manifest?.status ?? 'unreadable',
      bytes: set.manifest ? totalBytes(filesOf(set.manifest)) : null,
      startedAt: set.manifest?.startedAt ?? null,
      stores: set.manifest ? Object.keys(set.manifest.stores) : [],
      problem: set.problem ?? null,
    }));
    process.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
    return 0;
  }
  if (sets.length === 0) {
    process.stdout.write(`No ${options.tier ? `${options.tier} ` : ''}backup sets in ${config.backupDir}\n`);
    return 0;
  }
  const now = Date.now();
  const rows = sets.map((set) => {
    const taken = timeOfSetName(set.name)?.getTime() ?? now;
    if (!set.manifest) return [set.name, '-', 'unreadable', '-', formatDuration(now - taken), set.problem ?? ''];
    const stores = Object.entries(set.manifest.stores)
      .map(([store, record]) => (record?.status === 'ok' ? store : `${store}(failed)`))
      .join(',');
    return [set.name, set.manifest.tier, set.manifest.status, formatBytes(totalBytes(filesOf(set.manifest))), formatDuration(now - taken), stores];
  });
  process.stdout.write(`${formatTable(['NAME', 'TIER', 'STATUS', 'SIZE', 'AGE', 'STORES'], rows)}\n`);
  return 0;
}

export async function showCommand(config: Config, reference: string, options: { json?: boolean }): Promise<number> {
  try {
    parseSetReference(reference, config.backupDir);
  } catch (error) {
    throw new UserError((error as Error).message);
  }
  const set = await resolveSet(config.backupDir, reference);
  if (options.json) {
    process.stdout.write(`${JSON.stringify(set.manifest, null, 2)}\n`);
    return 0;
  }
  process.stdout.write(`${describeManifest(set.manifest, set.path)}\n`);
  return 0;
}

export function describeManifest(manifest: Manifest, path: string): string {
  const took = Date.parse(manifest.finishedAt) - Date.parse(manifest.startedAt);
  const lines = [
    `Set:      ${manifest.name}`,
    `Path:     ${path}`,
    `Tier:     ${manifest.tier}`,
    `Status:   ${manifest.status}`,
    `Taken:    ${manifest.startedAt} (took ${formatDuration(took)})`,
    `Size:     ${formatBytes(totalBytes(filesOf(manifest)))}`,
    `Tool:     ${manifest.tool.name} ${manifest.tool.version}`,
    `Workflow: ${manifest.workflow.id}`,
    `Encrypted: ${manifest.encryption ? `age, to ${manifest.encryption.recipients.join(', ')}` : 'no'}`,
  ];
  for (const [store, record] of Object.entries(manifest.stores) as [StoreName, Manifest['stores'][StoreName]][]) {
    if (!record) continue;
    lines.push('', `${STORE_LABELS[store]}: ${record.status === 'ok' ? `ok, server ${record.serverVersion}` : 'FAILED'}`);
    if (record.status === 'failed') {
      lines.push(`  reason: ${record.error}`);
      continue;
    }
    for (const file of record.files) lines.push(`  ${file.name.padEnd(44)} ${formatBytes(file.bytes).padStart(9)}  sha256 ${file.sha256.slice(0, 16)}…`);
    const counts = Object.entries(record.summary.counts);
    lines.push(`  content: ${counts.length === 0 ? `no ${record.summary.unit}` : counts.map(([key, count]) => `${key}=${count}`).join(', ')} (${record.summary.unit})`);
    for (const check of record.checks) lines.push(`  ✓ ${check}`);
    for (const note of record.notes) lines.push(`  note: ${note}`);
    if (record.phases.length > 0) lines.push(`  phases: ${record.phases.map((phase) => `${phase.phase} ${formatDuration(phase.ms)}`).join(', ')}`);
  }
  return lines.join('\n');
}
