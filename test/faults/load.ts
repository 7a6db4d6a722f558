/**
 * Load: 20 backups of mixed tiers started within one second (the backup lock queues them: each ends
 * with one set of its own, or a clear "already running"; none fails), a restore started while a
 * backup runs (it waits or is refused clearly; every store ends equal to the set or to what it held),
 * and `prune --yes` started during a backup (it never deletes the set being sealed nor the last good
 * set of a tier). Runnable alone: `scripts/node.sh --import tsx test/faults/load.ts`.
 */
import { spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { isVerified } from '../../activities/repository/prune';
import type { Tier } from '../../core/tiers';
import { tableChecksums } from '../support/fingerprints';
import { addBulkTable } from '../support/scholaria';
import {
  caseRow,
  commonProblems,
  lastLine,
  logRow,
  manifestOf,
  plantSet,
  rowOf,
  runFaultEntry,
  runIdOf,
  setsIn,
  startFaultStack,
  whenActivityRunning,
  withTemporal,
  type FaultRow,
  type FaultStack,
} from '../support/fault-stack';
import { runCli, type CliResult } from '../support/stack';

const DAY = 86_400_000;
const TIERS: Tier[] = ['daily', 'weekly', 'monthly', 'manual'];

async function cli(stack: FaultStack, args: string[]): Promise<CliResult> {
  const result = await runCli(args, stack.env, 600_000);
  stack.outputs.push(result);
  return result;
}

/** 20 backups, tiers in turn, their CLIs started within one second. */
export function twentyBackups(stack: FaultStack): Promise<FaultRow> {
  const fault = 'load: 20 backups at once';
  const where = 'backup: 5 of each tier, started within 1 s';
  return caseRow(fault, where, async () => {
    const backupDir = stack.env.BACKUP_DIR!;
    const before = setsIn(backupDir);
    const started = Date.now();
    const results = await Promise.all(Array.from({ length: 20 }, (_, index) => cli(stack, ['backup', '--tier', TIERS[index % TIERS.length]!])));
    const seconds = Math.round((Date.now() - started) / 1000);
    const added = setsIn(backupDir).filter((name) => !before.includes(name));
    const succeeded = results.filter((result) => result.code === 0);
    const refused = results.filter((result) => result.code !== 0);
    const problems: string[] = [];
    const unclear = refused.filter((result) => !/already started this second \(backup-\w+-\d{8}T\d{6}Z\): this request was skipped/.test(result.stderr));
    if (unclear.length > 0) problems.push(`${unclear.length} runs failed or were refused unclearly: ${[...new Set(unclear.map(lastLine))].slice(0, 2).join(' / ')}`);
    if (added.length !== succeeded.length) problems.push(`${added.length} new sets for ${succeeded.length} complete runs`);
    const runs = added.map((name) => manifestOf(backupDir, name).workflow.id);
    if (new Set(runs).size !== runs.length) problems.push('a run sealed two sets');
    if (added.some((name) => manifestOf(backupDir, name).status !== 'complete')) problems.push('a set is not complete');
    if (added.some((name) => manifestOf(backupDir, name).stores.postgres?.status !== 'ok')) problems.push('a set lacks PostgreSQL');
    problems.push(...(await commonProblems(stack, before, results.map((result) => runIdOf(result) ?? '').filter(Boolean))));
    return rowOf(fault, where, `${succeeded.length} complete, ${refused.length} refused${refused[0] ? ` (e.g. ${lastLine(refused[0])})` : ''}, in ${seconds} s`, problems);
  });
}

/** A restore started while a backup dumps PostgreSQL. */
export function restoreDuringBackup(stack: FaultStack): Promise<FaultRow> {
  const fault = 'load: restore during a backup';
  const where = 'restore latest started while backupPostgres runs';
  return caseRow(fault, where, async () => {
    const backupDir = stack.env.BACKUP_DIR!;
    const before = setsIn(backupDir);
    const latest = before.filter((name) => manifestOf(backupDir, name).status === 'complete').at(-1)!;
    spawnSync('psql', [stack.stores.databaseUrl, '-qc', 'create table if not exists load_marker (x int); insert into load_marker values (1)']);
    // Seconds of dump, so the restore's steps meet the backup still running.
    await addBulkTable(stack.stores.databaseUrl, 10);
    const tablesBefore = JSON.stringify(await tableChecksums(stack.stores.databaseUrl));
    let ended = false;
    const backup = cli(stack, ['backup', '--tier', 'daily']).finally(() => (ended = true));
    const seen = await whenActivityRunning(stack.env.TEMPORAL_ADDRESS!, 'backupWorkflow', 'backupPostgres', () => ended);
    const restore = await cli(stack, ['restore', latest, '--yes']);
    const backed = await backup;
    const problems: string[] = [];
    if (!seen) problems.push('the backup ended before its dump was seen');
    if (backed.code !== 0) problems.push(`the backup failed: ${lastLine(backed)}`);
    const tablesAfter = JSON.stringify(await tableChecksums(stack.stores.databaseUrl));
    const restored = !tablesAfter.includes('load_marker');
    if (restore.code === 0 && !restored) problems.push('the restore says it succeeded but the marker table is still there');
    if (restore.code !== 0 && tablesAfter !== tablesBefore) problems.push('the restore failed and PostgreSQL is not what it held');
    const overlap = await storesChangedDuringBackup(stack.env.TEMPORAL_ADDRESS!, runIdOf(restore), runIdOf(backed));
    if (overlap) problems.push(`the restore changed the stores while the backup ran (${overlap}): it neither waited nor was refused`);
    const met = overlap ? '' : ' (the backup ended before the restore changed a store)';
    problems.push(...(await commonProblems(stack, before, [runIdOf(restore), runIdOf(backed)].filter((id): id is string => Boolean(id)))));
    return rowOf(fault, where, `restore exit ${restore.code}, backup exit ${backed.code}${met}`, problems);
  });
}

/** When the restore took its first safety snapshot before the backup had ended: that step and the gap, else undefined. */
async function storesChangedDuringBackup(address: string, restoreId: string | undefined, backupId: string | undefined): Promise<string | undefined> {
  if (!restoreId || !backupId) return undefined;
  return withTemporal(address, async (client) => {
    const backupClosed = (await client.workflow.getHandle(backupId).describe()).closeTime;
    const history = await client.workflow.getHandle(restoreId).fetchHistory();
    const firstChange = (history.events ?? []).find((event) => event.activityTaskScheduledEventAttributes?.activityType?.name?.startsWith('safetySnapshot'));
    const at = firstChange?.eventTime?.seconds ? Number(firstChange.eventTime.seconds) * 1000 : undefined;
    if (!backupClosed || at === undefined || at >= backupClosed.getTime()) return undefined;
    return `${firstChange!.activityTaskScheduledEventAttributes!.activityType!.name} ${Math.round((backupClosed.getTime() - at) / 1000)} s before the backup ended`;
  });
}

/** `prune --yes` while a backup runs, with sets past their retention planted around it. */
export function pruneDuringSeal(stack: FaultStack): Promise<FaultRow> {
  const fault = 'load: prune --yes during a backup';
  const where = 'prune started while the backup seals (or dumps)';
  return caseRow(fault, where, async () => {
    const backupDir = stack.env.BACKUP_DIR!;
    const source = setsIn(backupDir).find((name) => manifestOf(backupDir, name).tier === 'daily' && isVerified(manifestOf(backupDir, name)))!;
    // Past their retention: two old dailies (deletable) and the only weekly (the last good of its tier).
    const oldDaily = [plantSet(backupDir, source, 20 * DAY), plantSet(backupDir, source, 21 * DAY)];
    const onlyWeekly = plantSet(backupDir, source, 60 * DAY, 'weekly');
    for (const name of setsIn(backupDir)) {
      if (name !== onlyWeekly && manifestOf(backupDir, name).tier === 'weekly') rmSync(join(backupDir, name), { recursive: true, force: true });
    }
    const before = setsIn(backupDir);
    let ended = false;
    const backup = cli(stack, ['backup', '--tier', 'daily']).finally(() => (ended = true));
    const address = stack.env.TEMPORAL_ADDRESS!;
    const atSeal = await whenActivityRunning(address, 'backupWorkflow', 'sealBackupSet', () => ended);
    const prune = await cli(stack, ['prune', '--yes']);
    const backed = await backup;
    const problems: string[] = [];
    if (backed.code !== 0) problems.push(`the backup failed: ${lastLine(backed)}`);
    if (prune.code !== 0) problems.push(`prune failed: ${lastLine(prune)}`);
    const sealed = /\bscholaria_backup_\d{8}_\d{6}\b/.exec(backed.stdout)?.[0];
    const now = setsIn(backupDir);
    if (!sealed || !now.includes(sealed)) problems.push(`the set the backup sealed (${sealed}) is gone`);
    if (!now.includes(onlyWeekly)) problems.push(`the last weekly set ${onlyWeekly} was deleted`);
    if (oldDaily.some((name) => now.includes(name))) problems.push('a daily set past its retention was kept');
    problems.push(...(await commonProblems(stack, before, [runIdOf(backed) ?? ''])));
    return rowOf(fault, where, `${atSeal ? 'prune started during the seal' : 'the seal was not seen: prune started after the backup'}; backup exit ${backed.code}, prune exit ${prune.code}`, problems);
  });
}

export async function loadFaults(): Promise<FaultRow[]> {
  const stack = await startFaultStack('load');
  const rows: FaultRow[] = [];
  try {
    stack.startWorker();
    const first = await stack.backup();
    if (first.code !== 0) throw new Error(`the first backup failed: ${lastLine(first)}`);
    for (const loadCase of [twentyBackups, restoreDuringBackup, pruneDuringSeal]) {
      const row = await loadCase(stack);
      logRow(row);
      rows.push(row);
    }
  } finally {
    const left = await stack.stopWorkers();
    if (left.length > 0) rows.push(rowOf('worker stopped', 'after the load cases', 'SIGTERM', [`children left running: ${left.join(',')}`]));
    await stack.stop();
  }
  return rows;
}

if (require.main === module) runFaultEntry('Faults: load', loadFaults);
