/**
 * Checks and safety snapshots run beside the work an operator waits for (a restore's PostgreSQL stage
 * runs pg_restore beside the Redis snapshot and the set's deep checks). On two cores every program
 * competes with every other; the programs these run yield the CPU (10 nicer than the worker), so they
 * fill what the waited-for work leaves idle instead of slowing it. Alone they run as fast as before.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { getPriority, setPriority } from 'node:os';
import type { StoreAdapter } from '../core/contract';

/** How much nicer than the worker those programs run (niceness goes up to 19). */
const YIELDING_NICENESS = 10;
const LOWEST_PRIORITY = 19;
const yielding = new AsyncLocalStorage<boolean>();

/** `adapter` with the programs of its deep checks and safety snapshots run at a lower CPU priority. */
export function withYieldingChecks(adapter: StoreAdapter): StoreAdapter {
  return {
    ...adapter,
    verify: (input) => yielding.run(true, () => adapter.verify(input)),
    safetySnapshot: (input) => yielding.run(true, () => adapter.safetySnapshot(input)),
  };
}

/** Lowers the priority of a program just started, when the work that started it yields the CPU. */
export function applyCpuPriority(pid: number | undefined): void {
  if (pid === undefined || yielding.getStore() !== true) return;
  try {
    setPriority(pid, Math.min(getPriority() + YIELDING_NICENESS, LOWEST_PRIORITY));
  } catch {
    // The program may already have exited; a priority it could not get costs time, never correctness.
  }
}
