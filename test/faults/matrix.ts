/**
 * `npm run faults`: injected faults against real servers, one row per case (test/faults/bench.ts runs
 * and checks each case). The steps come from the workflows' own histories: one clean backup and one
 * clean restore are run first and their ActivityTaskScheduled events list the activities, so a new
 * step is covered without editing this file. Every fault kind of FAULT_KINDS strikes at every point it
 * names of every step: a new kind is one more entry there. FAULTS_FILTER=<regular expression> keeps the
 * cases whose name ("<fault> <backup|restore> <point> <activity>") it matches; FAULTS_KINDS=backup or restore runs one half;
 * FAULTS_COMPRESSION=zstd makes the sets with zstd instead of the default gzip.
 * After the matrix, the cases of their own: BACKUP_DIR full and read-only, the worker's clock jumping,
 * and load (FAULTS_KINDS=disk, clock, load; all of them by default, none when FAULTS_FILTER is set).
 */
import { FAULT_KINDS, FaultBench, type Kind, type Row } from './bench';
import { clockFaults } from './clock';
import { diskFaults } from './disk';
import { loadFaults } from './load';
import { withFaultTemporal } from '../support/fault-stack';

const OWN_CASES: Record<string, () => Promise<Row[]>> = { disk: diskFaults, clock: clockFaults, load: loadFaults };

async function main(): Promise<number> {
  const filter = process.env.FAULTS_FILTER ?? '';
  const asked = (process.env.FAULTS_KINDS ?? ['backup', 'restore', ...(filter ? [] : Object.keys(OWN_CASES))].join(',')).split(',');
  const kinds = asked.filter((kind): kind is Kind => kind === 'backup' || kind === 'restore');
  const bench = new FaultBench();
  const rows: Row[] = [];
  // Stopped early (a time box, Ctrl-C): the table so far, and no server left behind.
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      process.stdout.write(`\n${tableOf(rows, filter)}\n(stopped by ${signal})\n`);
      void bench.stop().finally(() => process.exit(1));
    });
  }
  try {
    if (kinds.length > 0) await bench.start();
    const steps = {} as Record<Kind, string[]>;
    // The restore needs a set: the clean backup runs whichever half is asked for.
    for (const kind of kinds.length > 0 ? (['backup', 'restore'] as Kind[]) : []) {
      steps[kind] = await bench.stepsOf(kind);
      process.stdout.write(`[faults] ${kind} steps: ${steps[kind].join(', ')}\n`);
    }
    for (const kind of kinds) {
      for (const activity of steps[kind]) {
        for (const fault of FAULT_KINDS) {
          for (const point of fault.pointsOf(kind, activity)) {
            if (!new RegExp(filter).test(`${fault.name} ${kind} ${point} ${activity}`)) continue;
            const row = await bench.runCase(kind, activity, point, fault).catch(
              (error: Error): Row => ({ fault: fault.name, where: `${kind}: ${point} ${activity}`, run: 'harness error', invariants: error.message, ok: false }),
            );
            rows.push(row);
            process.stdout.write(`[faults] ${row.ok ? 'ok  ' : 'FAIL'} ${row.fault} | ${row.where} | ${row.run} | ${row.invariants}\n`);
          }
        }
      }
    }
  } finally {
    await bench.stop();
  }
  for (const [name, run] of Object.entries(OWN_CASES)) {
    if (asked.includes(name)) rows.push(...(await withFaultTemporal(run)));
  }
  process.stdout.write(`\n${tableOf(rows, filter)}\n`);
  return rows.every((row) => row.ok) ? 0 : 1;
}

function tableOf(rows: Row[], filter: string): string {
  const struck = rows.filter((row) => row.invariants !== '-');
  const failed = rows.filter((row) => !row.ok);
  const table = [
    `Faults run ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC (npm run faults${filter ? `, FAULTS_FILTER=${filter}` : ''}${process.env.FAULTS_KINDS ? `, FAULTS_KINDS=${process.env.FAULTS_KINDS}` : ''}${process.env.FAULTS_COMPRESSION ? `, FAULTS_COMPRESSION=${process.env.FAULTS_COMPRESSION}` : ''})`,
    '',
    '| fault | where | what the run did | invariants |',
    '|---|---|---|---|',
    ...rows.map((row) => `| ${[row.fault, row.where, row.run, row.invariants].map((cell) => cell.replaceAll('|', '\\|')).join(' | ')} |`),
    `| **${rows.length} cases, ${struck.length} faults injected** | | | **${struck.length - failed.length} held, ${failed.length} failed${failed.length ? `: ${failed.map((row) => /\((\S+)\)$/.exec(row.run)?.[1] ?? row.where).join(', ')}` : ''}** |`,
  ].join('\n');
  return table;
}

main().then(
  (code) => process.exit(code),
  (error: Error) => {
    process.stderr.write(`[faults] ${error.stack ?? error.message}\n`);
    process.exit(1);
  },
);
