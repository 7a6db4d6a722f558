import { appendFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Config } from '../core/config';
import type { AuditActivities } from '../core/contract';
import { redactSecrets } from '../core/redaction';

export const AUDIT_FILE = 'audit.jsonl';

/** The audit log: one JSON line per restore in LOG_DIR/audit.jsonl, appended, never rewritten. */
export function createAuditActivities(config: Config): AuditActivities {
  return {
    async recordAudit(entry) {
      await mkdir(config.logDir, { recursive: true });
      await appendFile(join(config.logDir, AUDIT_FILE), `${redactSecrets(JSON.stringify(entry))}\n`);
    },
  };
}
