/**
 * The worker's clock jumping an hour, forward and back, in the middle of backups (the worker runs with
 * the clock-shift.ts preload; no faketime on this machine). Set names come from the workflow's clock
 * (the Temporal server's), retention and the manifest's times from activities: the runs must still
 * give one set per run, names in the order of the runs, a manifest that does not end before it
 * started, and retention must not delete a set still within its retention (one 30 minutes from its
 * end is planted to catch an hour's jump) nor any new set.
 * Runnable alone: `scripts/node.sh --import tsx test/faults/clock.ts`.
 */
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
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
  type FaultRow,
  type FaultStack,
} from '../support/fault-stack';
import type { CliResult } from '../support/stack';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const FAULT = 'worker clock jumps an hour';

/** A daily backup during which the worker's clock jumps by `offsetMs` (from the moment PostgreSQL is being dumped). */
async function backupWithJump(stack: FaultStack, clockFile: string, offsetMs: number): Promise<CliResult> {
  let ended = false;
  const running = stack.backup().finally(() => (ended = true));
  const seen = await whenActivityRunning(stack.env.TEMPORAL_ADDRESS!, 'backupWorkflow', 'backupPostgres', () => ended);
  writeFileSync(clockFile, String(offsetMs));
  const result = await running;
  return seen ? result : { ...result, stdout: `${result.stdout}\n(the jump came after the dump)` };
}

export async function clockFaults(): Promise<FaultRow[]> {
  const where = 'backups: +1 h during one dump, then -1 h during the next';
  const row = await caseRow(FAULT, where, async () => {
    const stack = await startFaultStack('clock');
    const backupDir = stack.env.BACKUP_DIR!;
    const clockFile = join(stack.stores.dir, 'clock-offset');
    writeFileSync(clockFile, '0');
    const problems: string[] = [];
    let run = '';
    try {
      stack.startWorker({ nodeArgs: ['--import', 'tsx', '--import', join(__dirname, 'clock-shift.ts')], env: { FAULT_CLOCK_FILE: clockFile } });
      const first = await stack.backup();
      if (first.code !== 0) throw new Error(`the first backup failed: ${lastLine(first)}`);
      const [baseline] = setsIn(backupDir);
      const nearEnd = plantSet(backupDir, baseline!, 7 * DAY - HOUR / 2);
      const before = setsIn(backupDir);
      const forward = await backupWithJump(stack, clockFile, HOUR);
      const back = await backupWithJump(stack, clockFile, -HOUR);
      writeFileSync(clockFile, '0');
      const runs = [forward, back];
      run = runs.map((result, index) => `${['+1 h', '-1 h'][index]}: exit ${result.code}`).join(', ');
      for (const result of runs) if (result.code !== 0) problems.push(`a backup failed: ${lastLine(result)}`);
      const added = setsIn(backupDir).filter((name) => !before.includes(name));
      const named = runs.map((result) => /\bscholaria_backup_\d{8}_\d{6}\b/.exec(result.stdout)?.[0]);
      if (added.length !== runs.length) problems.push(`${added.length} new sets for ${runs.length} runs`);
      if (named.some((name, index) => !name || (index > 0 && name <= named[index - 1]!))) problems.push(`set names not in the order of the runs: ${named.join(', ')}`);
      if (!setsIn(backupDir).includes(nearEnd)) problems.push(`retention deleted ${nearEnd}, 30 minutes within its retention`);
      if (!setsIn(backupDir).includes(baseline!)) problems.push(`retention deleted the new set ${baseline}`);
      for (const name of added) {
        const manifest = manifestOf(backupDir, name);
        if (manifest.finishedAt < manifest.startedAt) problems.push(`${name} finished (${manifest.finishedAt}) before it started (${manifest.startedAt})`);
      }
      problems.push(...(await commonProblems(stack, before, runs.map((result) => runIdOf(result) ?? ''))));
    } finally {
      const left = await stack.stopWorkers();
      if (left.length > 0) problems.push(`processes left running: ${left.join(',')}`);
      rmSync(clockFile, { force: true });
      await stack.stop();
    }
    return rowOf(FAULT, where, run, problems);
  });
  logRow(row);
  return [row];
}

if (require.main === module) runFaultEntry('Faults: the worker clock jumps', clockFaults);
