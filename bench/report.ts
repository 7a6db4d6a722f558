/** Medians, ratios, targets and the printed table of one benchmark run. */
import type { Operation, ProfileName, Way } from './ways';

export interface Cpu {
  /** The way's own processes: the shell and its tools, or the CLI plus the worker and its children. */
  client: number;
  /** PostgreSQL and Redis servers (backends, the RDB fork). */
  servers: number;
  /** The Temporal dev server, for (c) only. */
  orchestration: number;
}

export interface Measurement {
  profile: ProfileName;
  operation: Operation;
  way: Way;
  rep: number;
  ok: boolean;
  error?: string;
  /** The machine's 1-minute load average when the run started (others share the machine). */
  load1?: number;
  wallSeconds: number;
  cpuSeconds: Cpu;
  /** Largest resident set seen: of the worker process alone (VmHWM), and of the whole process tree (sampled). */
  peakRss: { worker?: number; tree: number };
  bytesWritten?: number;
  artefacts?: Record<string, number>;
  /** The files written, the set's time stamp replaced by <stamp>. */
  files?: string[];
  /** (c): the workflow id, manifest phases per store, and the activities from the workflow's history. */
  workflowId?: string;
  phases?: Record<string, { phase: string; ms: number }[]>;
  timeline?: { workflowMs: number; idleMs: number; activities: { activity: string; queueMs: number; runMs: number; startedAt: number }[] };
}

export interface SummaryRow {
  profile: ProfileName;
  operation: Operation;
  way: Way;
  label: string;
  available: boolean;
  note?: string;
  runs: number;
  failures: number;
  wallSeconds?: Spread;
  /** Medians of each part, and of their sum. */
  cpuSeconds?: Cpu & { total: number };
  /** The sum of the parts per run: fastest, median, slowest. */
  cpuTotalSeconds?: Spread;
  peakRss?: { worker?: number; tree: number };
  bytesWritten?: number;
  artefacts?: Record<string, number>;
  /** (c): medians of the manifest's phases and of each activity's running time. */
  phases?: Record<string, Record<string, number>>;
  activities?: Record<string, { runMs: number; queueMs: number }>;
  workflowMs?: number;
  idleMs?: number;
}

export interface Spread {
  min: number;
  median: number;
  max: number;
}

export interface Target {
  name: string;
  /** The issue that set it, e.g. `#19`. */
  issue: string;
  value?: number;
  limit: number;
  comparison: '<=' | '<';
  met?: boolean;
  detail: string;
}

export function median(values: number[]): number {
  const sorted = [...values].sort((x, y) => x - y);
  if (sorted.length === 0) return NaN;
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

export function spread(values: number[]): Spread {
  return { min: Math.min(...values), median: median(values), max: Math.max(...values) };
}

export function summarize(profile: ProfileName, operation: Operation, way: Way, label: string, measurements: Measurement[]): SummaryRow {
  const mine = measurements.filter((m) => m.profile === profile && m.operation === operation && m.way === way);
  const good = mine.filter((m) => m.ok);
  const row: SummaryRow = { profile, operation, way, label, available: true, runs: mine.length, failures: mine.length - good.length };
  if (good.length === 0) return row;
  row.wallSeconds = spread(good.map((m) => m.wallSeconds));
  const cpu = {
    client: median(good.map((m) => m.cpuSeconds.client)),
    servers: median(good.map((m) => m.cpuSeconds.servers)),
    orchestration: median(good.map((m) => m.cpuSeconds.orchestration)),
  };
  row.cpuSeconds = { ...cpu, total: cpu.client + cpu.servers + cpu.orchestration };
  row.cpuTotalSeconds = spread(good.map((m) => m.cpuSeconds.client + m.cpuSeconds.servers + m.cpuSeconds.orchestration));
  const workers = good.flatMap((m) => (m.peakRss.worker !== undefined ? [m.peakRss.worker] : []));
  row.peakRss = { tree: Math.max(...good.map((m) => m.peakRss.tree)), ...(workers.length ? { worker: Math.max(...workers) } : {}) };
  const written = good.flatMap((m) => (m.bytesWritten !== undefined ? [m.bytesWritten] : []));
  if (written.length) row.bytesWritten = median(written);
  const kinds = new Set(good.flatMap((m) => Object.keys(m.artefacts ?? {})));
  if (kinds.size) {
    row.artefacts = Object.fromEntries([...kinds].sort().map((kind) => [kind, median(good.map((m) => m.artefacts?.[kind] ?? 0))]));
  }
  const phased = good.filter((m) => m.phases);
  if (phased.length) {
    const phases: Record<string, Record<string, number>> = {};
    for (const store of new Set(phased.flatMap((m) => Object.keys(m.phases!)))) {
      const names = new Set(phased.flatMap((m) => (m.phases![store] ?? []).map((p) => p.phase)));
      phases[store] = Object.fromEntries(
        [...names].map((name) => [name, median(phased.map((m) => (m.phases![store] ?? []).filter((p) => p.phase === name).reduce((s, p) => s + p.ms, 0)))]),
      );
    }
    row.phases = phases;
  }
  const timed = good.filter((m) => m.timeline);
  if (timed.length) {
    const names = [...new Set(timed.flatMap((m) => m.timeline!.activities.map((a) => a.activity)))];
    const sumOf = (m: Measurement, name: string, field: 'runMs' | 'queueMs') =>
      m.timeline!.activities.filter((a) => a.activity === name).reduce((s, a) => s + a[field], 0);
    row.activities = Object.fromEntries(
      names.map((name) => [name, { runMs: median(timed.map((m) => sumOf(m, name, 'runMs'))), queueMs: median(timed.map((m) => sumOf(m, name, 'queueMs'))) }]),
    );
    row.workflowMs = median(timed.map((m) => m.timeline!.workflowMs));
    row.idleMs = median(timed.map((m) => m.timeline!.idleMs));
  }
  return row;
}

export function ratio(rows: SummaryRow[], profile: ProfileName, operation: Operation, top: Way, bottom: Way): number | undefined {
  const find = (way: Way) => rows.find((r) => r.profile === profile && r.operation === operation && r.way === way)?.wallSeconds?.median;
  const x = find(top);
  const y = find(bottom);
  return x !== undefined && y !== undefined && y > 0 ? x / y : undefined;
}

export function target(issue: string, name: string, value: number | undefined, comparison: '<=' | '<', limit: number, detail: string): Target {
  const met = value === undefined ? undefined : comparison === '<=' ? value <= limit : value < limit;
  return { name, issue, ...(value !== undefined ? { value } : {}), limit, comparison, ...(met !== undefined ? { met } : {}), detail };
}

const MB = 1e6;

/** min-median-max, e.g. `11.2-12.0-13.9`; one figure when there was one run. */
export function formatSpread(values: Spread, digits: number): string {
  if (values.min === values.max) return values.median.toFixed(digits);
  return `${values.min.toFixed(digits)}-${values.median.toFixed(digits)}-${values.max.toFixed(digits)}`;
}

export function formatTable(rows: SummaryRow[]): string {
  const header = ['profile', 'op', 'way', '', 'runs', 'wall s min-med-max', 'CPU s min-med-max', 'CPU way/srv/tmprl (med)', 'peak worker', 'peak tree', 'written'];
  const lines: string[][] = [header];
  const blank = (from: number) => Array.from({ length: header.length - from }, () => '');
  for (const row of rows) {
    const head = [row.profile, row.operation, row.way, row.label, String(row.runs)];
    if (!row.available) {
      lines.push([...head, 'n/a', row.note ?? 'not available', ...blank(7)]);
      continue;
    }
    if (!row.wallSeconds) {
      lines.push([...head, 'FAILED', `${row.failures}/${row.runs} runs failed`, ...blank(7)]);
      continue;
    }
    const cpu = row.cpuSeconds!;
    lines.push([
      ...head,
      formatSpread(row.wallSeconds, 2),
      formatSpread(row.cpuTotalSeconds!, 1),
      `${cpu.client.toFixed(1)} / ${cpu.servers.toFixed(1)} / ${row.way === 'c' ? cpu.orchestration.toFixed(1) : '-'}`,
      row.peakRss?.worker !== undefined ? `${(row.peakRss.worker / MB).toFixed(0)} MB` : '',
      `${(row.peakRss!.tree / MB).toFixed(0)} MB`,
      row.bytesWritten !== undefined ? `${(row.bytesWritten / MB).toFixed(1)} MB` : '',
    ]);
  }
  const widths = header.map((_, i) => Math.max(...lines.map((line) => line[i]!.length)));
  const numeric = new Set([4, 5, 6, 7, 8, 9, 10]);
  return lines
    .map((line) => line.map((cell, i) => (numeric.has(i) ? cell.padStart(widths[i]!) : cell.padEnd(widths[i]!))).join('  ').trimEnd())
    .join('\n');
}

export function formatTargets(targets: Target[]): string {
  return targets
    .map((t) => {
      const verdict = t.met === undefined ? 'not measured' : t.met ? 'met' : 'MISSED';
      const value = t.value === undefined ? '-' : t.value.toFixed(2);
      return `  ${t.issue.padEnd(4)} ${t.name.padEnd(44)} ${value.padStart(8)} ${t.comparison} ${String(t.limit).padEnd(5)} ${verdict.padEnd(12)} ${t.detail}`;
    })
    .join('\n');
}

export function formatPhases(rows: SummaryRow[]): string {
  const out: string[] = [];
  for (const row of rows.filter((r) => r.way === 'c' && r.wallSeconds)) {
    out.push(`  ${row.profile} ${row.operation} (c): workflow ${((row.workflowMs ?? 0) / 1000).toFixed(2)} s, no activity running ${((row.idleMs ?? 0) / 1000).toFixed(2)} s`);
    for (const [store, phases] of Object.entries(row.phases ?? {})) {
      out.push(`    manifest ${store}: ${Object.entries(phases).map(([name, ms]) => `${name} ${(ms / 1000).toFixed(2)} s`).join(', ')}`);
    }
    const activities = Object.entries(row.activities ?? {}).sort((x, y) => y[1].runMs - x[1].runMs);
    out.push(`    activities: ${activities.map(([name, a]) => `${name} ${(a.runMs / 1000).toFixed(2)} s`).join(', ')}`);
  }
  return out.join('\n');
}
