import { mkdir, open, readdir, readFile, rename, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Config } from '../core/config';
import type { AuditActivities, NotificationActivities } from '../core/contract';
import { restoreFromExpiredSet } from '../core/anomalies';
import { AUDIT_FILE, parseAuditLines, type AuditEntry } from '../core/audit';
import { redactSecrets } from '../core/redaction';
import { compactTimeOf } from '../core/set-names';
import { fileModes } from './file-modes';
import { tierLogger } from './logging';

export { AUDIT_FILE };

/** Past this size the audit log is renamed aside (`audit-<time>.jsonl`, kept) and a new one started. */
export const AUDIT_ROTATE_BYTES = 10 * 1024 * 1024;

/**
 * Appends one entry to LOG_DIR/audit.jsonl: opened for append only, owner-only, never rewritten. A
 * log past AUDIT_ROTATE_BYTES is renamed aside first, never deleted or truncated.
 */
export async function appendAudit(config: Pick<Config, 'logDir'>, entry: AuditEntry): Promise<void> {
  const modes = fileModes();
  await mkdir(config.logDir, { recursive: true, mode: modes.directory });
  const path = join(config.logDir, AUDIT_FILE);
  const size = await stat(path).then((stats) => stats.size, () => 0);
  if (size > AUDIT_ROTATE_BYTES) await rename(path, join(config.logDir, `audit-${compactTimeOf(new Date())}.jsonl`));
  const file = await open(path, 'a', modes.file);
  try {
    await file.appendFile(`${redactSecrets(JSON.stringify(entry))}\n`);
    await file.sync();
  } finally {
    await file.close();
  }
}

/** Every entry of the audit log and of its rotated files, oldest first. */
export async function readAudit(config: Pick<Config, 'logDir'>): Promise<AuditEntry[]> {
  const names = await readdir(config.logDir).catch(() => []);
  const rotated = names.filter((name) => /^audit-[0-9TZ_-]+\.jsonl$/.test(name)).sort();
  const entries: AuditEntry[] = [];
  for (const name of [...rotated, AUDIT_FILE]) entries.push(...parseAuditLines(await readFile(join(config.logDir, name), 'utf8').catch(() => '')));
  return entries;
}

/**
 * The audit log: one JSON line per operation in LOG_DIR/audit.jsonl (core/audit.ts); the same entry
 * goes to the run's log (`backup-<tier or kind>-YYYYMMDD.log`). A restore from a set past its tier's
 * retention is flagged as it is recorded: the entry carries the anomaly, and people are notified.
 */
export function createAuditActivities(config: Config, notifications: NotificationActivities): AuditActivities {
  return {
    async recordAudit(received) {
      const anomaly = restoreFromExpiredSet(received, { days: config.retentionDays });
      const entry = anomaly ? { ...received, anomaly } : received;
      await appendAudit(config, entry);
      const category = /^backup-([a-z]+)-/.exec(entry.workflowId)?.[1] ?? entry.event;
      const logger = tierLogger(config.logDir, category, config.logLevel);
      const line = `${entry.event}${entry.action ? ` ${entry.action}` : ''} ${entry.outcome}${entry.set ? ` (${entry.set})` : ''}${entry.reason ? `: ${entry.reason}` : ''}`;
      if (/fail|cancel|partial/.test(entry.outcome)) logger.error({ audit: entry }, line);
      else if (anomaly) logger.warn({ audit: entry }, `${line}; anomaly: ${anomaly}`);
      else logger.info({ audit: entry }, line);
      if (anomaly) {
        await notifications.notify({
          kind: 'restore',
          outcome: 'anomaly',
          title: `restore from ${entry.set}, a set past its tier's retention`,
          tier: entry.tier,
          set: entry.set,
          workflowId: entry.workflowId,
          reason: anomaly,
          details: [`outcome: ${entry.outcome}`, 'a set this old is normally deleted by retention: check that this restore was meant (LOG_DIR/audit.jsonl, the Temporal UI)'],
        });
      }
    },
  };
}
