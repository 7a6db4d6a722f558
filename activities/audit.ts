import { appendFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Config } from '../core/config';
import type { AuditActivities } from '../core/contract';
import { redactSecrets } from '../core/redaction';
import { tierLogger } from './logging';

export const AUDIT_FILE = 'audit.jsonl';

/**
 * The audit log: one JSON line per backup, restore and prune in LOG_DIR/audit.jsonl, appended, never
 * rewritten; the same entry goes to the run's log (`backup-<tier or kind>-YYYYMMDD.log`).
 */
export function createAuditActivities(config: Config): AuditActivities {
  return {
    async recordAudit(entry) {
      await mkdir(config.logDir, { recursive: true });
      await appendFile(join(config.logDir, AUDIT_FILE), `${redactSecrets(JSON.stringify(entry))}\n`);
      const category = /^backup-([a-z]+)-/.exec(entry.workflowId)?.[1] ?? entry.event;
      const logger = tierLogger(config.logDir, category, config.logLevel);
      const line = `${entry.event} ${entry.outcome}${entry.set ? ` (${entry.set})` : ''}${entry.reason ? `: ${entry.reason}` : ''}`;
      if (/fail|cancel|partial/.test(entry.outcome)) logger.error({ audit: entry }, line);
      else logger.info({ audit: entry }, line);
    },
  };
}
