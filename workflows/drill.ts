import {
  ApplicationFailure,
  CancellationScope,
  CancelledFailure,
  executeChild,
  isCancellation,
  patched,
  proxyActivities,
  setCurrentDetails,
  type ActivityInterfaceFor,
  type ActivityOptions,
  workflowInfo,
} from '@temporalio/workflow';
import { NON_RETRYABLE_FAILURES } from '../core/contract';
import {
  DRILL_FAILED,
  RPO_TARGET_SECONDS,
  type DrillActivities,
  type DrillCheckResult,
  type DrillOutcome,
  type DrillResult,
  type DrillWorkflowInput,
  type ScheduledDrillsInput,
  type ScheduledDrillsResult,
} from '../core/drills';
import { summaryDifferences } from '../core/manifest';
import { stampOf } from '../core/set-names';
import { STORE_LABELS, type StoreName } from '../core/stores';
import type { Tier } from '../core/tiers';
import { audit, binding, onWorker, repository, storeActivity, withSummary, WORKER_LOST_AFTER, type RunActivities } from './activity-proxies';
import { reasonOf } from './failure-reasons';
import { notify } from './notify';
import { sourceOf, storesToRestore } from './restore';
import { recordRun } from './run-attributes';
import { verifySealedSet } from './verify';

const nonRetryableErrorTypes = [...NON_RETRYABLE_FAILURES];

/** Scratch restores stream like real ones: the heartbeat notices a dead worker. */
const SCRATCH: ActivityOptions = {
  startToCloseTimeout: '12 hours',
  heartbeatTimeout: '15 seconds',
  // The removal must not race a restore that is still writing into the scratch target.
  cancellationType: 'WAIT_CANCELLATION_COMPLETED',
  retry: { maximumAttempts: 3, initialInterval: '2 seconds', backoffCoefficient: 2, maximumInterval: '1 minute', nonRetryableErrorTypes },
};
const QUICK: ActivityOptions = {
  startToCloseTimeout: '10 minutes',
  retry: { maximumAttempts: 3, initialInterval: '1 second', backoffCoefficient: 2, nonRetryableErrorTypes },
};
const scratch = proxyActivities<DrillActivities>(SCRATCH);
const quick = proxyActivities<DrillActivities>(QUICK);

/**
 * Patch of drills recorded before their steps were bound to one worker: those replay on the shared
 * queue, where any worker (with or without the set on its disk) could take each step.
 */
const DRILL_ON_ONE_WORKER = 'drill-on-one-worker';

/**
 * The drill's steps that read the set or own a scratch target (the scratch Redis is the worker's
 * child), on one worker's own queue as a restore's are; recording and auditing stay on the shared queue.
 */
type DrillSteps = Pick<ActivityInterfaceFor<DrillActivities>, 'findDrillSet' | 'restoreIntoScratch' | 'runDrillChecks' | 'removeScratch'>;

async function drillSteps(): Promise<{ steps: DrillSteps; on: RunActivities }> {
  if (!patched(DRILL_ON_ONE_WORKER)) {
    return {
      steps: { findDrillSet: quick.findDrillSet, runDrillChecks: quick.runDrillChecks, removeScratch: quick.removeScratch, restoreIntoScratch: scratch.restoreIntoScratch },
      on: { repository, storeActivity },
    };
  }
  const { taskQueue } = await withSummary(binding.bindRunToWorker, 'Bind the drill to the worker that will read the set')();
  const pinned: ActivityOptions = { taskQueue, scheduleToStartTimeout: WORKER_LOST_AFTER };
  const pinnedQuick = proxyActivities<DrillActivities>({ ...QUICK, ...pinned });
  const pinnedScratch = proxyActivities<DrillActivities>({ ...SCRATCH, ...pinned });
  return {
    steps: { findDrillSet: pinnedQuick.findDrillSet, runDrillChecks: pinnedQuick.runDrillChecks, removeScratch: pinnedQuick.removeScratch, restoreIntoScratch: pinnedScratch.restoreIntoScratch },
    on: onWorker(taskQueue),
  };
}

/**
 * A restore drill: the set is verified, restored store by store into scratch targets production never
 * sees, checked against the manifest and the operator's SQL, timed (RTO) and aged (RPO); the scratch
 * targets are always removed, in a scope that cannot be cancelled; the result goes to drills.jsonl,
 * the audit log and, on failure, to people.
 */
export async function drillWorkflow(input: DrillWorkflowInput): Promise<DrillResult> {
  const started = workflowInfo().startTime;
  const drillId = stampOf(started);
  const result: DrillResult = {
    set: input.reference,
    tier: input.tier ?? 'manual',
    workflowId: workflowInfo().workflowId,
    startedAt: started.toISOString(),
    finishedAt: started.toISOString(),
    outcome: 'failed',
    rpoSeconds: 0,
    stores: {},
    checks: [],
    leftovers: [],
    by: input.requestedBy,
  };
  let stores: StoreName[] = [];
  let cancellation: unknown;
  // Until the drill is bound, there is no scratch target to remove.
  let steps: Pick<DrillSteps, 'removeScratch'> = quick;
  try {
    const bound = await drillSteps();
    const on = bound.on;
    steps = bound.steps;
    const found = await withSummary(bound.steps.findDrillSet, `Find the set to drill: ${input.tier ? `the newest complete ${input.tier} set` : input.reference}`)({
      reference: input.reference,
      tier: input.tier,
    });
    const set = await withSummary(on.repository.resolveBackupSet, `Read the manifest of ${found.name}`)({ reference: found.name });
    const tier: Tier = set.manifest.tier;
    Object.assign(result, { set: set.name, tier, rpoSeconds: Math.round((started.getTime() - Date.parse(set.manifest.startedAt)) / 1000), rpoTargetSeconds: RPO_TARGET_SECONDS[tier] });
    recordRun({ set: set.name, tier });
    stores = storesToRestore(set.manifest, input.components);
    for (const store of stores) result.stores[store] = { status: 'not reached', details: [] };
    await verifySealedSet(set, stores, 'restore', undefined, on);

    const drillOne = async (store: StoreName): Promise<void> => {
      const report = result.stores[store]!;
      try {
        const source = sourceOf(set.manifest, store, drillId);
        const restored = await withSummary(bound.steps.restoreIntoScratch, `Drill: restore ${STORE_LABELS[store]} from ${set.name} into its scratch target`)({ store, drillId, source });
        report.target = restored.target;
        report.details.push(...restored.details);
        const differences = summaryDifferences(restored.expected ?? source.summary, restored.summary);
        if (differences.length > 0) {
          throw ApplicationFailure.nonRetryable(`${STORE_LABELS[store]} restored in the drill does not hold what the set records: ${differences.slice(0, 3).join('; ')}`, 'VerificationFailed');
        }
        report.details.push(`content equals the manifest (${restored.summary.unit} of every ${store === 'postgres' ? 'table' : store === 'redis' ? 'database' : 'collection'})`);
        report.status = 'passed';
      } catch (error) {
        if (!isCancellation(error) && !CancellationScope.current().consideredCancelled) Object.assign(report, { status: 'failed', error: reasonOf(error) });
        throw error;
      }
    };
    setCurrentDetails(`Drilling ${stores.map((store) => STORE_LABELS[store]).join(', ')} from ${set.name}`);
    const restoring = new CancellationScope();
    const runs = stores.map((store) => restoring.run(() => drillOne(store)));
    try {
      await Promise.all(runs);
    } catch (error) {
      restoring.cancel();
      await Promise.allSettled(runs);
      throw error;
    }
    if (stores.includes('postgres')) {
      result.checks = await withSummary(bound.steps.runDrillChecks, 'Run the operator checks (DRILL_CHECKS_SQL) against the drill database')({ drillId });
      const failed = result.checks.filter((check) => !check.passed);
      if (failed.length > 0) throw ApplicationFailure.nonRetryable(`drill check failed: ${describeCheck(failed[0]!)}`, 'VerificationFailed');
    }
    result.rtoSeconds = Math.round((Date.now() - started.getTime()) / 1000);
    result.outcome = 'passed';
  } catch (error) {
    // An activity stopped by the cancellation may report its own failure ("pg_restore was stopped"): the run's scope says what happened.
    const cancelled = isCancellation(error) || CancellationScope.current().consideredCancelled;
    if (cancelled) cancellation = isCancellation(error) ? error : new CancelledFailure('the drill was cancelled');
    result.outcome = cancelled ? 'cancelled' : 'failed';
    result.reason = cancelled ? 'the drill was cancelled' : reasonOf(error);
  }
  await CancellationScope.nonCancellable(async () => {
    setCurrentDetails('Removing the scratch targets');
    for (const store of stores) {
      try {
        const removed = await withSummary(steps.removeScratch, `Drill: remove the ${STORE_LABELS[store]} scratch target`)({ store, drillId });
        if (removed.length > 0) result.stores[store]?.details.push(`removed: ${removed.join(', ')}`);
      } catch (error) {
        result.leftovers.push(`${STORE_LABELS[store]}: ${reasonOf(error)}`);
      }
    }
    result.finishedAt = new Date().toISOString();
    if (result.leftovers.length > 0 && result.outcome === 'passed') {
      Object.assign(result, { outcome: 'failed' satisfies DrillOutcome, reason: `scratch targets left behind: ${result.leftovers.join('; ')}` });
    }
    await withSummary(quick.recordDrill, 'Record the drill in LOG_DIR/drills.jsonl')(result);
    await withSummary(audit.recordAudit, 'Append the drill to the audit log')({
      event: 'drill',
      at: result.startedAt,
      by: input.requestedBy,
      workflowId: result.workflowId,
      set: result.set,
      stores,
      dryRun: false,
      outcome: result.outcome,
      ...(result.reason ? { reason: result.reason } : {}),
    });
    recordRun({ outcome: result.outcome });
    setCurrentDetails(`Drill ${result.outcome}${result.rtoSeconds !== undefined ? `: RTO ${result.rtoSeconds} s` : ''}, RPO ${result.rpoSeconds} s${result.reason ? `; ${result.reason}` : ''}`);
    await notify({
      kind: 'drill',
      outcome: result.outcome === 'passed' ? 'succeeded' : 'failed',
      title: `restore drill of ${result.set} ${result.outcome}`,
      tier: result.tier,
      set: result.set,
      reason: result.reason,
      details: [
        `RTO ${result.rtoSeconds ?? '—'} s, RPO ${result.rpoSeconds} s${result.rpoTargetSeconds ? ` (target ${result.rpoTargetSeconds} s)` : ''}`,
        ...Object.entries(result.stores).map(([store, report]) => `${STORE_LABELS[store as StoreName]}: ${report.status}${report.error ? `: ${report.error}` : ''}`),
        ...result.checks.map((check) => `${check.passed ? '✓' : '✖'} ${describeCheck(check)}`),
      ],
    });
  });
  // The run ends cancelled, as asked, once its scratch targets are gone.
  if (cancellation) throw cancellation;
  if (result.outcome === 'failed') {
    throw ApplicationFailure.create({ message: `drill of ${result.set} failed: ${result.reason}`, type: DRILL_FAILED, nonRetryable: true, details: [result] });
  }
  return result;
}

/**
 * The drill schedule's run: one drill per tier, one after the other (a drill is a restore's worth of
 * load), each of the tier's newest complete set; a tier without one is reported, not failed.
 */
export async function scheduledDrillsWorkflow(input: ScheduledDrillsInput): Promise<ScheduledDrillsResult> {
  const results: ScheduledDrillsResult = {};
  for (const tier of input.tiers) {
    const workflowId = `${workflowInfo().workflowId}-${tier}`;
    try {
      const drill = await executeChild(drillWorkflow, { workflowId, args: [{ reference: 'latest', tier, requestedBy: 'schedule' }] });
      results[tier] = { outcome: drill.outcome, workflowId };
    } catch (error) {
      if (isCancellation(error)) throw error;
      const reason = reasonOf(error);
      results[tier] = { outcome: /no complete .* backup set/.test(reason) ? 'no set' : 'failed', workflowId, reason };
    }
  }
  setCurrentDetails(Object.entries(results).map(([tier, result]) => `${tier}: ${result.outcome}`).join(', '));
  return results;
}

function describeCheck(check: DrillCheckResult): string {
  return `${check.query.replace(/\s+/g, ' ')}${check.error ? ` (${check.error})` : ''}`;
}
