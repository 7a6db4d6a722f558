import { Context } from '@temporalio/activity';
import type { StoreProgress } from '../core/contract';
import type { PhaseTiming } from '../core/manifest';

/** The reporter an activity runs (or ran) with, so the worker's keep-alive heartbeat leaves its details alone. */
const reporters = new WeakMap<Context, ProgressReporter>();

/**
 * Whether the activity of `context` heartbeats its own progress now, and the details it last sent:
 * the worker's interceptor heartbeats the others (see worker/activity-interceptor.ts), repeating those.
 */
export function progressOf(context: Context): { reporting: boolean; last?: StoreProgress } {
  const reporter = reporters.get(context);
  return { reporting: reporter?.running ?? false, last: reporter?.current };
}

/**
 * Heartbeats the current progress every second, independent of data flow, so a worker that is alive
 * but waiting (on a lock, on Redis' fork) is not taken for dead, and the CLI sees live figures.
 */
export class ProgressReporter {
  private progress: StoreProgress = { phase: 'starting', bytes: 0 };
  private checkpointState: unknown;
  private readonly context = Context.current();
  private readonly timer: NodeJS.Timeout;
  running = true;

  constructor() {
    reporters.set(this.context, this);
    this.context.heartbeat(this.details());
    this.timer = setInterval(() => this.context.heartbeat(this.details()), 1000);
  }

  private details(): StoreProgress | (StoreProgress & { checkpoint: unknown }) {
    return this.checkpointState === undefined ? this.progress : { ...this.progress, checkpoint: this.checkpointState };
  }

  /**
   * What a retry of this activity needs to resume instead of starting over (e.g. a multipart upload's
   * id and finished parts); sent with every heartbeat from now on, read back by `previousCheckpoint`.
   */
  checkpoint(state: unknown): void {
    this.checkpointState = state;
    this.context.heartbeat(this.details());
  }

  /** Cancelled when the workflow cancels this activity or the worker shuts down; passed to child processes. */
  get signal(): AbortSignal {
    return this.context.cancellationSignal;
  }

  phase(phase: string): void {
    this.progress = { phase, bytes: 0 };
    this.context.heartbeat(this.details());
  }

  bytes(bytes: number): void {
    this.progress = { phase: this.progress.phase, bytes };
  }

  /** How long each phase run through `timed` took, for the manifest. */
  readonly timings: PhaseTiming[] = [];

  /** Runs one phase of the work: reported in heartbeats, and its duration recorded in `timings`. */
  async timed<T>(phase: string, work: () => Promise<T>): Promise<T> {
    // The monotonic clock: a jump of the wall clock must not give a phase a negative duration.
    const started = performance.now();
    this.phase(phase);
    try {
      return await work();
    } finally {
      this.timings.push({ phase, ms: Math.round(performance.now() - started) });
    }
  }

  /** The details of the last heartbeat, checkpoint included, which the worker's keep-alive repeats. */
  get current(): StoreProgress {
    return this.details();
  }

  stop(): void {
    this.running = false;
    clearInterval(this.timer);
  }
}

/** The checkpoint the previous attempt of this activity last heartbeated, if any; unvalidated. */
export function previousCheckpoint(): unknown {
  const details: unknown = Context.current().info.heartbeatDetails;
  return typeof details === 'object' && details !== null && 'checkpoint' in details ? details.checkpoint : undefined;
}

/** Runs `work` with a reporter that is always stopped afterwards. */
export async function withProgress<T>(work: (progress: ProgressReporter) => Promise<T>): Promise<T> {
  const progress = new ProgressReporter();
  try {
    return await work(progress);
  } finally {
    progress.stop();
  }
}
