/**
 * What the benchmark reads from /proc: CPU time and resident memory of processes and their trees,
 * with no sampling tool of its own to install. Linux only.
 *
 * CPU of a tree = utime+stime+cutime+cstime of its root plus the same of every live descendant. A child
 * that exits moves its time into its parent's cutime/cstime when it is reaped, so the total over a run
 * is conserved and the difference of two readings is the CPU the tree used in between.
 */
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';

const CLOCK_TICKS = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;
  } catch {
    return 100;
  }
})();
const PAGE_BYTES = (() => {
  try {
    return Number(execFileSync('getconf', ['PAGESIZE']).toString().trim()) || 4096;
  } catch {
    return 4096;
  }
})();

interface StatFields {
  pid: number;
  ppid: number;
  /** utime, stime, cutime, cstime in seconds. */
  self: number;
  children: number;
  rssBytes: number;
}

function readStat(pid: number): StatFields | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // The command name may hold spaces and parentheses: the fields start after the last ')'.
  const rest = text.slice(text.lastIndexOf(')') + 2).split(' ');
  // rest[0] is field 3 (state); utime is field 14 → rest[11].
  const num = (field: number) => Number(rest[field - 3]);
  return {
    pid,
    ppid: num(4),
    self: (num(14) + num(15)) / CLOCK_TICKS,
    children: (num(16) + num(17)) / CLOCK_TICKS,
    rssBytes: num(24) * PAGE_BYTES,
  };
}

/** Direct children of every thread of `pid` (/proc/<pid>/task/<tid>/children). */
export function childrenOf(pid: number): number[] {
  const found: number[] = [];
  let tasks: string[];
  try {
    tasks = readdirSync(`/proc/${pid}/task`);
  } catch {
    return found;
  }
  for (const tid of tasks) {
    try {
      const text = readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8').trim();
      if (text) for (const child of text.split(/\s+/)) found.push(Number(child));
    } catch {
      // The thread ended meanwhile.
    }
  }
  return found;
}

/** `pid` and its live descendants. */
export function treeOf(pid: number): number[] {
  const seen: number[] = [];
  const queue = [pid];
  while (queue.length > 0) {
    const next = queue.shift()!;
    if (seen.includes(next)) continue;
    seen.push(next);
    queue.push(...childrenOf(next));
  }
  return seen;
}

/** CPU seconds used so far by the tree of `pid` (see the file comment). 0 when it does not exist. */
export function treeCpuSeconds(pid: number): number {
  let total = 0;
  for (const member of treeOf(pid)) {
    const stat = readStat(member);
    if (stat) total += stat.self + stat.children;
  }
  return total;
}

/** CPU seconds of reaped children of this process: what its finished child processes used. */
export function ownChildrenCpuSeconds(): number {
  return readStat(process.pid)?.children ?? 0;
}

export function treeRssBytes(pid: number): number {
  let total = 0;
  for (const member of treeOf(pid)) total += readStat(member)?.rssBytes ?? 0;
  return total;
}

function statusField(pid: number, field: string): number | undefined {
  try {
    const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

/** Peak resident set of one process since it started or since `resetPeakRss`. */
export function peakRssBytes(pid: number): number | undefined {
  return statusField(pid, 'VmHWM');
}

/** Resets VmHWM to the current RSS (writing 5 to clear_refs); false when the kernel or permissions refuse. */
export function resetPeakRss(pid: number): boolean {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5');
    return true;
  } catch {
    return false;
  }
}

/**
 * Samples the resident memory of a process tree (sum over its members) and of its root until stopped;
 * the peaks are what a sampler can see, so short spikes between two samples may be missed.
 */
export class RssSampler {
  private timer: NodeJS.Timeout | undefined;
  peakTreeBytes = 0;
  peakRootBytes = 0;

  constructor(private readonly rootPid: () => number | undefined, private readonly intervalMs = 200) {}

  start(): this {
    this.sample();
    this.timer = setInterval(() => this.sample(), this.intervalMs);
    return this;
  }

  sample(): void {
    const pid = this.rootPid();
    if (pid === undefined) return;
    const members = treeOf(pid);
    let total = 0;
    for (const member of members) {
      const rss = readStat(member)?.rssBytes ?? 0;
      total += rss;
      if (member === pid) this.peakRootBytes = Math.max(this.peakRootBytes, rss);
    }
    this.peakTreeBytes = Math.max(this.peakTreeBytes, total);
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }
}
