import { patched } from '@temporalio/workflow';
import type { BackupDirHealth } from '../core/contract';
import type { StoreName } from '../core/stores';
import type { HealthWorkflowInput, HealthWorkflowResult, StoreHealth } from '../core/workflow-types';
import { health, probeOnce, withSummary } from './activity-proxies';
import { reasonOf } from './failure-reasons';
import { notify } from './notify';
import { recordRun } from './run-attributes';

/** Health runs recorded before the worker looked at its BACKUP_DIR (writable, anomalies) replay without that step. */
const INSPECTS_BACKUP_DIR = 'health-inspects-backup-dir';

/**
 * Probes every store from the worker, where backups run (reachability, versions, pg_dump
 * compatibility), and looks at the worker's BACKUP_DIR: writable, no set changed or deleted by hand,
 * no unusual failures or restores. What is wrong in BACKUP_DIR is notified from here, so a run that
 * nobody watches (a schedule, cron) still reaches people.
 */
export async function healthWorkflow(input: HealthWorkflowInput): Promise<HealthWorkflowResult> {
  const results = await Promise.allSettled(input.components.map((store) => probeOnce(store)({ tier: 'manual' })));
  const stores: Partial<Record<StoreName, StoreHealth>> = {};
  results.forEach((result, index) => {
    stores[input.components[index]!] =
      result.status === 'fulfilled'
        ? { reachable: true, serverVersion: result.value.serverVersion, details: result.value.details }
        : { reachable: false, reason: reasonOf(result.reason) };
  });
  const storesReachable = Object.values(stores).every((store) => store?.reachable);
  if (!patched(INSPECTS_BACKUP_DIR)) {
    recordRun({ outcome: storesReachable ? 'healthy' : 'unhealthy' });
    return { stores };
  }
  const backupDir = await withSummary(health.inspectBackupDir, 'Check that BACKUP_DIR takes writes and its sets are as sealed')();
  const problems = backupDirProblems(backupDir);
  if (problems.length > 0) {
    await notify({
      kind: 'health-check',
      outcome: 'failed',
      title: `health check: ${problems.length === 1 ? problems[0]! : `${problems.length} problems in BACKUP_DIR`}`,
      reason: problems[0],
      details: [...problems, 'find out who did it (LOG_DIR/audit.jsonl, the Temporal UI); `scholaria-backup verify <set>` reads a set in full'],
    });
  }
  recordRun({ outcome: storesReachable && problems.length === 0 ? 'healthy' : 'unhealthy' });
  return { stores, backupDir };
}

function backupDirProblems(backupDir: BackupDirHealth): string[] {
  return [...(backupDir.writable.ok ? [] : [backupDir.writable.reason]), ...backupDir.anomalies];
}
