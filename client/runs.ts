/**
 * The one place the CLI starts workflows: by their function types (core/workflow-types.ts, so no
 * workflow module is imported), with their workflow ids, the task queue and the search attributes.
 */
import { hostname, userInfo } from 'node:os';
import type { Client, WorkflowHandleWithStartDetails, WorkflowStartOptions } from '@temporalio/client';
import type { Config } from '../core/config';
import type { Notification } from '../core/contract';
import type { SearchAttributePair } from '@temporalio/common';
import { startAttributes, startWithSearchAttributes, type RunKind } from '../core/search-attributes';
import { compactTimeOf, type SetReference } from '../core/set-names';
import type { Tier } from '../core/tiers';
import type { Workflows } from '../core/workflow-types';

export type WorkflowType = keyof Workflows;

/** Each kind of run's workflow id: what the Web UI lists, and what `status` and the log files group by. */
export const workflowIds = {
  backup: (tier: Tier, now = new Date()) => `backup-${tier}-${compactTimeOf(now)}`,
  /** The prefix of every backup of a tier, scheduled or not. */
  backupsOf: (tier: Tier) => `backup-${tier}-`,
  restore: (reference: SetReference, now = new Date()) => `restore-${reference.kind === 'latest' ? 'latest' : reference.name}-${compactTimeOf(now)}`,
  verify: (reference: SetReference, now = new Date()) => `verify-${reference.kind === 'latest' ? 'latest' : reference.name}-${compactTimeOf(now)}`,
  health: (now = new Date()) => `health-check-${compactTimeOf(now)}-${process.pid}`,
  drill: (reference: SetReference, tier?: Tier, now = new Date()) =>
    `drill-${tier && reference.kind === 'latest' ? tier : reference.kind === 'latest' ? 'latest' : reference.name}-${compactTimeOf(now)}`,
  prune: (now = new Date()) => `prune-${compactTimeOf(now)}-${process.pid}`,
  notify: (kind: Notification['kind'], now = new Date()) => `notify-${kind}-${compactTimeOf(now)}-${process.pid}`,
  offsite: (action: 'sync' | 'list' | 'verify' | 'prune', now = new Date()) => `offsite-${action}-${compactTimeOf(now)}-${process.pid}`,
};

/** The workflow types `status` shows as running work. */
export const USER_RUN_TYPES: readonly WorkflowType[] = ['backupWorkflow', 'restoreWorkflow', 'verifyWorkflow', 'pruneWorkflow', 'drillWorkflow', 'offsiteSyncWorkflow', 'offsitePruneWorkflow'];

/** Who asks, for the audit log. */
export function requester(): string {
  return `${userInfo().username}@${hostname()}`;
}

/** What every start gets from here: the task queue and the run's search attributes. */
export interface RunBase {
  taskQueue: string;
  typedSearchAttributes: SearchAttributePair[] | undefined;
}

/**
 * Starts `type` on the configured task queue with the search attributes of a run of `kind` (and
 * `tier`, when the run is about one from the start); on a namespace that lacks them, without, after a
 * warning. `options` adds the run's own: workflow id (from `workflowIds`), arguments, summary.
 */
export function startRun<K extends WorkflowType>(
  client: Client,
  config: Config,
  type: K,
  run: { kind: RunKind; tier?: Tier },
  options: (base: RunBase) => WorkflowStartOptions<Workflows[K]>,
): Promise<WorkflowHandleWithStartDetails<Workflows[K]>> {
  return startWithSearchAttributes(
    (typedSearchAttributes) => client.workflow.start<Workflows[K]>(type, options({ taskQueue: config.temporal.taskQueue, typedSearchAttributes })),
    startAttributes(run.kind, run.tier),
    (line) => process.stderr.write(`scholaria-backup: warning: ${line}\n`),
  );
}

/** What a schedule starts: the backup workflow on the configured task queue. */
export function scheduledBackup(config: Config): { workflowType: WorkflowType; taskQueue: string } {
  return { workflowType: 'backupWorkflow', taskQueue: config.temporal.taskQueue };
}
