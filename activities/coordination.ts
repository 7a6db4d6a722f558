/**
 * Coordination between runs, through Temporal's own visibility: the worker asks the server which
 * backups are running, so the queue holds across any number of workers.
 */
import { readFileSync } from 'node:fs';
import { Client, Connection } from '@temporalio/client';
import type { Config } from '../core/config';
import type { CoordinationActivities } from '../core/contract';
import { temporalConnectionOptions } from '../core/temporal-connection';
import { withProgress } from './heartbeat';

const POLL_MS = 2000;

export function createCoordinationActivities(config: Config): CoordinationActivities {
  let client: Promise<Client> | undefined;
  const connect = () =>
    (client ??= Connection.connect(temporalConnectionOptions(config, readFileSync)).then(
      (connection) => new Client({ connection, namespace: config.temporal.namespace }),
    ));

  return {
    waitForEarlierBackups: ({ workflowId, startedAt }) =>
      withProgress(async (progress) => {
        const temporal = await connect();
        const query = `WorkflowType = 'backupWorkflow' AND ExecutionStatus = 'Running' AND StartTime <= '${startedAt}'`;
        const waitedFor = new Set<string>();
        for (;;) {
          const earlier: string[] = [];
          for await (const run of temporal.workflow.list({ query })) {
            // Same start time: the lower id goes first, so two runs never wait for each other.
            const started = run.startTime.toISOString();
            const first = started < startedAt || (started === startedAt && run.workflowId < workflowId);
            if (run.workflowId !== workflowId && first) earlier.push(run.workflowId);
          }
          if (earlier.length === 0) return { waitedFor: [...waitedFor] };
          earlier.forEach((id) => waitedFor.add(id));
          progress.phase(`waiting for ${earlier.join(', ')}`);
          await new Promise((resolve) => setTimeout(resolve, POLL_MS));
          if (progress.signal.aborted) throw progress.signal.reason;
        }
      }),
  };
}
