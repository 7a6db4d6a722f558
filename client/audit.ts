/**
 * The audit entries of CLI commands that change something without a workflow of their own (schedule
 * apply, pause, resume, trigger): the CLI writes nothing itself, so the worker appends them through
 * the one-shot `auditWorkflow`, which the Web UI lists too.
 */
import type { Client } from '@temporalio/client';
import type { AuditEntry } from '../core/audit';
import type { Config } from '../core/config';
import { compactTimeOf } from '../core/set-names';
import { requester, startRun } from './runs';

/**
 * Records `entry` (by this user, now) through the worker: the start is durable, so a worker that is
 * down writes it when it is back; the command does not wait. A failure to start is a warning, never the command's.
 */
export async function auditFromCli(client: Client, config: Config, entry: Omit<AuditEntry, 'at' | 'by' | 'workflowId' | 'dryRun' | 'stores'>): Promise<void> {
  const now = new Date();
  const workflowId = `audit-${entry.event}-${entry.action ?? 'run'}-${compactTimeOf(now)}-${process.pid}`;
  try {
    await startRun(client, config, 'auditWorkflow', { kind: 'audit' }, (base) => ({
      ...base,
      workflowId,
      args: [{ ...entry, at: now.toISOString(), by: requester(), workflowId, dryRun: false, stores: [] }],
      staticSummary: `audit: ${entry.event} ${entry.action ?? ''} ${entry.outcome}`,
    }));
  } catch (error) {
    process.stderr.write(`scholaria-backup: warning: the audit entry could not be written: ${(error as Error).message.split('\n')[0]}\n`);
  }
}
