/**
 * The two Temporal workers of one worker process, run and stopped together: one on the shared task
 * queue (workflows and the steps any worker can take), one on this worker's own queue (the steps that
 * touch its BACKUP_DIR). If either stops, the other is shut down too: a process that can no longer
 * take its own runs' steps must not keep starting runs.
 */
import type { State, Worker } from '@temporalio/worker';

export class WorkerPair {
  constructor(
    readonly shared: Worker,
    readonly own: Worker,
  ) {}

  async run(): Promise<void> {
    const runs = [this.shared, this.own].map((worker) =>
      worker.run().finally(() => {
        this.shutdown();
      }),
    );
    await Promise.all(runs);
  }

  shutdown(): void {
    for (const worker of [this.shared, this.own]) if (worker.getState() === 'RUNNING') worker.shutdown();
  }

  /** RUNNING while both run. */
  getState(): State {
    const states = [this.shared.getState(), this.own.getState()];
    return states.every((state) => state === 'RUNNING') ? 'RUNNING' : (states.find((state) => state !== 'RUNNING') ?? 'RUNNING');
  }
}
