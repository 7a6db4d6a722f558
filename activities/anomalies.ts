/**
 * The light integrity check of BACKUP_DIR and the anomalies of the audit trail (core/anomalies.ts),
 * made by the health workflow on the worker (which notifies), and by `health-check` itself when no
 * worker answers: reads sizes, mtimes and the small SHA256SUMS files only, never the data.
 */
import { constants } from 'node:fs';
import { access, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { auditAnomalies, setsDeletedOutsideRetention } from '../core/anomalies';
import type { Config } from '../core/config';
import type { BackupDirHealth, HealthActivities } from '../core/contract';
import { CHECKSUMS_FILE, filesOf, formatChecksums, MANIFEST_FILE, type Manifest } from '../core/manifest';
import { readAudit } from './audit';
import { ensureWritableBackupDir, listSets } from './repository/sets';

type InspectedConfig = Pick<Config, 'backupDir' | 'logDir' | 'retentionDays' | 'auditMaxFailuresPerDay'>;

/** A file written after the set was sealed: its mtime is later than SHA256SUMS's by more than the file system's rounding. */
const MTIME_SLACK_MS = 1000;

/**
 * Why the sealed set at `path` no longer holds what it was sealed with, one line per file, without
 * reading the data: SHA256SUMS must still say what the manifest says, and every file must have the
 * size the manifest records and no mtime later than SHA256SUMS's (written last, when it was sealed).
 */
export async function sealedSetChanges(path: string, manifest: Manifest): Promise<string[]> {
  const files = filesOf(manifest);
  const changes: string[] = [];
  const sums = await stat(join(path, CHECKSUMS_FILE)).catch(() => undefined);
  if (!sums) return [`${CHECKSUMS_FILE} is missing`];
  const text = await readFile(join(path, CHECKSUMS_FILE), 'utf8');
  if (text !== formatChecksums(files)) changes.push(`${CHECKSUMS_FILE} no longer lists what ${MANIFEST_FILE} records`);
  const manifestStats = await stat(join(path, MANIFEST_FILE));
  if (sums.mtimeMs > manifestStats.mtimeMs + MTIME_SLACK_MS) changes.push(`${CHECKSUMS_FILE} was written after ${MANIFEST_FILE}`);
  for (const file of files) {
    const stats = await stat(join(path, file.name)).catch(() => undefined);
    if (!stats) changes.push(`${file.name} is missing`);
    else if (stats.size !== file.bytes) changes.push(`${file.name} is ${stats.size} bytes, sealed with ${file.bytes}`);
    else if (stats.mtimeMs > sums.mtimeMs + MTIME_SLACK_MS) changes.push(`${file.name} was modified at ${new Date(stats.mtimeMs).toISOString()}, after the set was sealed`);
  }
  return changes;
}

/** Every anomaly in BACKUP_DIR and the audit trail now, one line each (empty when there is none). */
export async function findAnomalies(config: InspectedConfig, now = new Date()): Promise<string[]> {
  const sets = await listSets(config.backupDir).catch(() => []);
  const lines: string[] = [];
  for (const set of sets) {
    if (!set.manifest) {
      lines.push(`set ${set.name} cannot be read any more: ${set.problem ?? 'no manifest'}`);
      continue;
    }
    const changes = await sealedSetChanges(set.path, set.manifest);
    if (changes.length > 0) lines.push(`set ${set.name} changed on disk after it was sealed: ${changes.slice(0, 3).join('; ')}${changes.length > 3 ? ` (and ${changes.length - 3} more)` : ''}`);
  }
  const entries = await readAudit(config);
  const rules = { retention: { days: config.retentionDays }, maxFailuresPerDay: config.auditMaxFailuresPerDay };
  lines.push(...setsDeletedOutsideRetention(entries, new Set(sets.map((set) => set.name)), rules.retention, now));
  lines.push(...auditAnomalies(entries, rules, now));
  return lines;
}

/**
 * Whether BACKUP_DIR takes writes, and its anomalies. `probe: 'write'` writes and removes a probe file
 * (the worker, which writes the sets); `probe: 'access'` only asks the file system (`health-check`
 * without a worker: the CLI writes nothing).
 */
export async function inspectBackupDir(config: InspectedConfig, probe: 'write' | 'access'): Promise<BackupDirHealth> {
  const writable: BackupDirHealth['writable'] = await (probe === 'write' ? ensureWritableBackupDir(config.backupDir) : access(config.backupDir, constants.W_OK)).then(
    () => ({ ok: true }),
    (error: NodeJS.ErrnoException) => ({ ok: false, reason: probe === 'write' ? error.message : `BACKUP_DIR ${config.backupDir} is not writable (${error.code ?? 'error'})` }),
  );
  return { writable, anomalies: await findAnomalies(config) };
}

export function createHealthActivities(config: Config): HealthActivities {
  return {
    inspectBackupDir: () => inspectBackupDir(config, 'write'),
  };
}
