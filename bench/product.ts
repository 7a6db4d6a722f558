/**
 * Way (c): the product as a user runs it. A Temporal dev server (headless, in memory) unless one is
 * given, the workflows bundled once (so the worker's start is not measured), the worker as a separate
 * process (`scholaria-backup worker`) whose memory and CPU are read from /proc, and the CLI as another.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { bundleWorkflows } from '../worker/bundle';
import { startTemporalDevServer, type DevServer } from '../devstack/temporal';
import { PROJECT_ROOT } from '../devstack/tools';

export const CLI = join(PROJECT_ROOT, 'bin', 'scholaria-backup.js');

export interface Orchestrator {
  address: string;
  /** PID of the dev server we started (its CPU is the orchestration's), undefined when one was given. */
  pid?: number;
  client: Client;
  bundlePath: string;
  stop(): Promise<void>;
}

export async function startOrchestrator(options: { dir: string; address?: string; bundlePath?: string; log: (line: string) => void }): Promise<Orchestrator> {
  let bundlePath = options.bundlePath;
  if (!bundlePath) {
    const started = Date.now();
    bundlePath = join(options.dir, 'workflow-bundle.js');
    await bundleWorkflows(bundlePath);
    options.log(`workflows bundled in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  }
  let server: DevServer | undefined;
  let address = options.address;
  if (!address) {
    server = await startTemporalDevServer({ uiPort: false, logFile: join(options.dir, 'temporal.log') });
    address = server.address;
    options.log(`Temporal dev server on ${address} (headless, in memory)`);
  }
  const connection = await Connection.connect({ address });
  return {
    address,
    ...(server ? { pid: server.pid } : {}),
    client: new Client({ connection }),
    bundlePath,
    stop: async () => {
      await connection.close().catch(() => undefined);
      await server?.stop();
    },
  };
}

export interface WorkerProcess {
  pid: number;
  env: Record<string, string>;
  stop(): Promise<void>;
}

/** `scholaria-backup worker` with `env`; resolves once it polls its task queue. */
export async function startWorkerProcess(env: Record<string, string>, logFile: string): Promise<WorkerProcess> {
  const child = spawn(process.execPath, [CLI, 'worker'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  const tail: string[] = [];
  const keep = (text: string) => {
    for (const line of text.split('\n')) if (line.trim()) tail.push(line);
    tail.splice(0, Math.max(0, tail.length - 40));
  };
  let exited = false;
  child.once('exit', () => (exited = true));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the worker did not start within 60 s:\n${tail.join('\n')}`)), 60_000);
    child.stdout.setEncoding('utf8').on('data', (text: string) => {
      keep(text);
      if (text.includes('worker polling')) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.stderr.setEncoding('utf8').on('data', keep);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`the worker exited with ${code} while starting:\n${tail.join('\n')}`));
    });
  });
  return {
    pid: child.pid!,
    env,
    stop: async () => {
      writeFileSync(logFile, `${tail.join('\n')}\n`);
      if (exited) return;
      await stopChild(child);
    },
  };
}

async function stopChild(child: ChildProcess): Promise<void> {
  const gone = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 25_000);
  await gone;
  clearTimeout(timer);
}

export { runCli, type CliResult as CliRun } from '../devstack/cli';

export interface ActivitySpan {
  activity: string;
  /** ms from the workflow's start to the activity's scheduling, and to its start. */
  scheduledAt: number;
  startedAt: number;
  /** Waiting in the task queue (scheduled → started) and running (started → closed). */
  queueMs: number;
  runMs: number;
  attempt: number;
}

export interface WorkflowTimeline {
  workflowMs: number;
  activities: ActivitySpan[];
  /** Time inside the workflow when no activity ran: workflow tasks, queueing, gaps. */
  idleMs: number;
}

/** The activities of one workflow run as the server recorded them, from its history. */
export async function workflowTimeline(client: Client, workflowId: string): Promise<WorkflowTimeline> {
  const history = await client.workflow.getHandle(workflowId).fetchHistory();
  const events = history.events ?? [];
  const ms = (time: { seconds?: unknown; nanos?: number | null } | null | undefined) =>
    time ? Number(time.seconds ?? 0) * 1000 + (time.nanos ?? 0) / 1e6 : 0;
  const first = ms(events[0]?.eventTime);
  const last = ms(events[events.length - 1]?.eventTime);
  const scheduled = new Map<string, { name: string; at: number }>();
  const started = new Map<string, { at: number; attempt: number }>();
  const activities: ActivitySpan[] = [];
  for (const event of events) {
    const id = String(event.eventId);
    const at = ms(event.eventTime);
    if (event.activityTaskScheduledEventAttributes) {
      scheduled.set(id, { name: event.activityTaskScheduledEventAttributes.activityType?.name ?? '?', at });
    } else if (event.activityTaskStartedEventAttributes) {
      started.set(String(event.activityTaskStartedEventAttributes.scheduledEventId), {
        at,
        attempt: event.activityTaskStartedEventAttributes.attempt ?? 1,
      });
    } else {
      const closed =
        event.activityTaskCompletedEventAttributes ?? event.activityTaskFailedEventAttributes ?? event.activityTaskTimedOutEventAttributes ??
        event.activityTaskCanceledEventAttributes;
      if (!closed) continue;
      const key = String(closed.scheduledEventId);
      const s = scheduled.get(key);
      const st = started.get(key);
      if (!s) continue;
      const startAt = st?.at ?? at;
      activities.push({
        activity: s.name,
        scheduledAt: Math.round(s.at - first),
        startedAt: Math.round(startAt - first),
        queueMs: Math.round(startAt - s.at),
        runMs: Math.round(at - startAt),
        attempt: st?.attempt ?? 1,
      });
    }
  }
  // Union of the running intervals; the rest of the workflow's time is orchestration.
  const intervals = activities.map((span) => [span.startedAt, span.startedAt + span.runMs] as const).sort((x, y) => x[0] - y[0]);
  let covered = 0;
  let end = -Infinity;
  for (const [from, to] of intervals) {
    if (to <= end) continue;
    covered += to - Math.max(from, end);
    end = to;
  }
  const workflowMs = Math.round(last - first);
  return { workflowMs, activities, idleMs: Math.max(0, Math.round(workflowMs - covered)) };
}

