/**
 * Progress while the benchmark runs: a line when a step starts and ends, and a heartbeat line during a
 * long step (every `--heartbeat` seconds, 12 unless given), saying what the step is doing, so a run of
 * many minutes is never silent for long.
 */
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Client } from '@temporalio/client';
import { progressOf } from '../client/watch';

export type Log = (line: string) => void;

export const DEFAULT_HEARTBEAT_SECONDS = 12;

/** What a step is doing now, for its heartbeat line; empty when there is nothing to add to the elapsed time. */
export type Status = () => Promise<string> | string;

/**
 * Runs `work` as the step `label`: logs its start and its end with its wall time, and with `beat` a
 * heartbeat every `beat.everySeconds` while it runs (elapsed seconds and what `beat.status` says).
 */
export async function step<T>(log: Log, label: string, work: () => Promise<T>, beat?: { everySeconds: number; status?: Status }): Promise<T> {
  const started = Date.now();
  log(`${label}: started`);
  const beating = beat ? heartbeat(log, label, beat.everySeconds, beat.status ?? (() => ''), started) : undefined;
  try {
    const result = await work();
    log(`${label}: done in ${seconds(started)} s`);
    return result;
  } catch (error) {
    log(`${label}: failed after ${seconds(started)} s`);
    throw error;
  } finally {
    beating?.stop();
  }
}

/** A heartbeat line every `everySeconds` until stopped; a status that fails or hangs skips that beat. */
export function heartbeat(log: Log, label: string, everySeconds: number, status: Status, started = Date.now()): { stop(): void } {
  let busy = false;
  const timer = setInterval(() => {
    if (busy) return;
    busy = true;
    Promise.resolve()
      .then(status)
      .catch((error: Error) => `(status unavailable: ${error.message})`)
      .then((text) => log(`${label}: ${seconds(started)} s${text ? `, ${text}` : ''}`))
      .finally(() => (busy = false));
  }, everySeconds * 1000);
  timer.unref();
  return { stop: () => clearInterval(timer) };
}

/** Bytes of the files under `dirs` (missing folders count as empty): what a shell way has written so far. */
export function bytesUnder(...dirs: string[]): number {
  let total = 0;
  const walk = (folder: string) => {
    let entries;
    try {
      entries = readdirSync(folder, { withFileTypes: true });
    } catch {
      return;
    }
    for (const entry of entries) {
      const path = join(folder, entry.name);
      try {
        if (entry.isDirectory()) walk(path);
        else if (entry.isFile()) total += statSync(path).size;
      } catch {
        // Removed meanwhile.
      }
    }
  };
  for (const dir of dirs) walk(dir);
  return total;
}

/**
 * The product's phase, as `scholaria-backup status` shows it: the heartbeats of the pending activities
 * of every workflow running on the worker's task queue.
 */
export async function productPhase(client: Client, taskQueue: string): Promise<string> {
  const phases: string[] = [];
  let running = 0;
  for await (const run of client.workflow.list({ query: `TaskQueue = '${taskQueue}' AND ExecutionStatus = 'Running'` })) {
    running++;
    const description = await client.workflow.getHandle(run.workflowId, run.runId).describe();
    for (const pending of description.raw.pendingActivities ?? []) {
      const item = progressOf(pending);
      phases.push(`${item.activity} ${item.phase}${item.bytes > 0 ? ` ${megabytes(item.bytes)}` : ''}${item.attempt > 1 ? ` (attempt ${item.attempt})` : ''}`);
    }
  }
  if (phases.length > 0) return phases.join('; ');
  return running > 0 ? 'no activity running' : 'no workflow running (the CLI starting or ending, or the benchmark settling the stores)';
}

export function megabytes(bytes: number): string {
  return `${(bytes / 1e6).toFixed(bytes < 10e6 ? 1 : 0)} MB`;
}

function seconds(since: number): string {
  return ((Date.now() - since) / 1000).toFixed(1);
}
