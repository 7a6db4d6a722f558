import {
  ApplicationFailure,
  CancellationScope,
  defineQuery,
  isCancellation,
  patched,
  setHandler,
  setCurrentDetails,
  workflowInfo,
} from '@temporalio/workflow';
import type { RestoreSource, SafetySnapshot } from '../core/contract';
import { summaryDifferences, type Manifest } from '../core/manifest';
import { stampOf } from '../core/set-names';
import { STORE_LABELS, STORE_NAMES, STORES_CHECKED_BY_THEIR_STAGE, type StoreName } from '../core/stores';
import type { RunOutcome } from '../core/search-attributes';
import { RESTORE_FAILED, RESTORE_REPORT_QUERY, type RestoreWorkflowInput, type RestoreWorkflowResult, type StoreRestoreReport } from '../core/workflow-types';
import { audit, encryption, repository, storeActivity, withSummary, type RunActivities } from './activity-proxies';
import { restoreOnOneWorker } from './restore-source';
import { withBackupLock } from './backup-lock';
import { notify } from './notify';
import { reasonOf } from './failure-reasons';
import { recordRun } from './run-attributes';
import { checkSealedSetFiles, checkStoresDeeply, verifySealedSet } from './verify';


/**
 * A restore as a saga. Before anything is touched: the set's checksums and deep checks, and every
 * requested store's preflight (a dry run stops there with the plan). Then, for every store side by
 * side: a safety snapshot, the restore, and a check of what the target now holds. If any store fails,
 * the others are stopped; if any fails or the run is cancelled, every store already touched is rolled
 * back to its safety snapshot in a scope that cannot be cancelled, and the result says what was
 * restored, what failed and what was rolled back.
 *
 * The checksums of the set's files and the stores' deep checks run beside the work that touches nothing
 * live: the preflight, the safety snapshots and each store's stage (PostgreSQL restores into a fresh
 * database beside the target). No store's restore starts, and no database is swapped in, before every
 * check has passed; a check that fails removes what was staged and releases the snapshots, leaving
 * every store as it was.
 */
export async function restoreWorkflow(input: RestoreWorkflowInput): Promise<RestoreWorkflowResult> {
  const restoreId = stampOf(workflowInfo().startTime);
  const reports: RestoreWorkflowResult['stores'] = {};
  let outcome = 'failed';
  let setName = input.reference;
  let stores: StoreName[] = input.components ?? [];
  let checks: string[] = [];
  // Answers with the report so far; the CLI asks it of a cancelled run, which Temporal records without details.
  setHandler(restoreReport, () => ({ set: setName, dryRun: input.dryRun, checks, stores: reports }));
  let tier: string | undefined;
  // Absent unless asked for, so the activities' inputs of an ordinary restore are what they always were.
  const sideBySide = input.asDatabase === undefined ? {} : { asDatabase: input.asDatabase };
  try {
    // Runs recorded before a restore's steps were bound to one worker replay on the shared queue.
    const { on, resolve } = patched(RESTORE_ON_ONE_WORKER)
      ? await restoreOnOneWorker(input, describeReference(input.reference))
      : { on: { storeActivity, repository }, resolve: () => withSummary(repository.resolveBackupSet, describeReference(input.reference))({ reference: input.reference }) };
    const { storeActivity: storeStep } = on;
    const set = await resolve();
    setName = set.name;
    recordRun({ set: set.name, tier: set.manifest.tier });
    stores = storesToRestore(set.manifest, input.components);
    tier = set.manifest.tier;
    if (input.asDatabase !== undefined && (stores.length !== 1 || stores[0] !== 'postgres')) {
      throw ApplicationFailure.nonRetryable('--as-database restores PostgreSQL only: use it with --component postgres', 'ConfigError');
    }
    if (set.manifest.encryption && patched(ENCRYPTED_SET_IDENTITY)) {
      await withSummary(encryption.requireSetIdentity, `Check that this worker holds an identity that can open ${set.name}`)({ setName: set.name });
    }
    // Runs recorded before the deep checks overlapped the stage replay with the checks first.
    const overlapped = !input.dryRun && patched(STAGED_RESTORE);
    // An encrypted set is decrypted, every file, before the preflight reads any of them with the identity.
    // Runs recorded before the checksums ran beside the preflight, snapshots and stages replay with them first.
    const checksumsBeside = overlapped && !set.manifest.encryption && patched(CHECKSUMS_BESIDE_THE_STAGE);
    const checking = new CancellationScope();
    const checksums = checksumsBeside
      ? checking.run(() => checkSealedSetFiles(set, true, on))
      : Promise.resolve(overlapped ? await checkSealedSetFiles(set, true, on) : await verifySealedSet(set, stores, 'restore', true, on));
    checksums.catch(() => undefined);
    if (!checksumsBeside) checks = (await checksums).checks;
    // A side-by-side restore stages nothing: every store's files get their own deep check then.
    const checkedByStage = input.asDatabase === undefined ? STORES_CHECKED_BY_THEIR_STAGE : [];
    const checkedApart = stores.filter((store) => !checkedByStage.includes(store));
    // The deep checks read files whose checksums matched, so a damaged file is reported as such.
    const deepChecks = overlapped
      ? checking.run(async () => {
          if (checksumsBeside) checks.push(...(await checksums).checks);
          return checkStoresDeeply(set, { stores: checkedApart, depth: 'restore', location: 'sealed', storeActivity: on.storeActivity });
        })
      : Promise.resolve([]);
    // The stores are independent: they are restored side by side, and the first failure stops the others.
    const restoring = new CancellationScope();
    let checkFailure: unknown;
    const checksPassed = deepChecks.then(
      (passed) => void checks.push(...passed),
      (error: unknown) => {
        checkFailure = error;
        // A bad set stops the stores' snapshots and stages at once, not when each reaches the gate.
        if (!isCancellation(error)) restoring.cancel();
        throw error;
      },
    );
    checksPassed.catch(() => undefined);
    const stopChecks = async () => {
      checking.cancel();
      await deepChecks.catch(() => undefined);
    };
    const sources = Object.fromEntries(stores.map((store) => [store, { ...sourceOf(set.manifest, store, restoreId), ...sideBySide }])) as Record<StoreName, RestoreSource>;

    setCurrentDetails(`Preflight of ${stores.map((store) => STORE_LABELS[store]).join(', ')}`);
    const plans = await Promise.all(stores.map((store) => storeStep('preflight', store, { set: set.name })(sources[store])));
    stores.forEach((store, index) => (reports[store] = { status: input.dryRun ? 'planned' : 'untouched', plan: plans[index]!, details: [] }));
    const problems = stores.flatMap((store, index) => plans[index]!.problems.map((problem) => `${STORE_LABELS[store]}: ${problem}`));
    if (problems.length > 0) {
      await stopChecks();
      throw ApplicationFailure.create({
        message: `the restore cannot start: ${problems.join('; ')}`,
        type: 'PreflightFailed',
        nonRetryable: true,
        details: [{ set: set.name, dryRun: input.dryRun, checks, stores: reports }],
      });
    }
    const result: RestoreWorkflowResult = { set: set.name, dryRun: input.dryRun, checks, stores: reports };
    if (input.dryRun) {
      outcome = 'dry run';
      recordRun({ outcome: 'dry run' });
      setCurrentDetails(`Dry run of ${set.name}: nothing changed`);
      return result;
    }

    // Restores recorded before a restore took the backup lock replay without it.
    const underTheLock = patched(RESTORE_TAKES_THE_BACKUP_LOCK);
    // From the first safety snapshot to the last release, no backup reads the stores halfway restored, and
    // no prune deletes what the restore reads: the restore waits for the backups and prunes already running.
    const changeStores = async (): Promise<void> => {
      const safeties: { store: StoreName; safety: SafetySnapshot }[] = [];
      // Snapshots taken, and stages done, by stores whose restore had not started: undone without a rollback of the target.
      const waiting = new Map<StoreName, { safety: SafetySnapshot; staged: boolean }>();
      const phases = new StorePhases();
      // No store touches its live target before every deep check passed and every store has staged.
      const stages = new Map(stores.map((store) => [store, settlement()]));
      const everyStoreReady = Promise.all([checksPassed, ...[...stages.values()].map((stage) => stage.done)]);
      everyStoreReady.catch(() => undefined);
      const restoreOne = async (store: StoreName): Promise<void> => {
        const label = STORE_LABELS[store];
        try {
          phases.set(store, 'safety snapshot');
          const safety = await storeStep('safetySnapshot', store, { set: set.name })(sources[store]);
          let staged = false;
          if (overlapped) {
            waiting.set(store, { safety, staged });
            phases.set(store, `staging from ${set.name}`);
            const stage = await storeStep('stage', store, { set: set.name })({ ...sources[store], safety, force: input.force });
            staged = stage.staged;
            waiting.set(store, { safety, staged });
            reports[store]!.details.push(...stage.details);
            if (stage.staged && checkedByStage.includes(store)) {
              checks.push(`${label}: its stage read the files to their end beside the target (${stage.details.at(-1) ?? 'staged'})`);
            }
            stages.get(store)!.resolve();
            phases.set(store, 'waiting for the deep checks of the set and the other stores');
            await everyStoreReady;
            waiting.delete(store);
          }
          // Registered before the restore starts: a restore that fails halfway has already changed the target.
          safeties.unshift({ store, safety });
          phases.set(store, `restoring from ${set.name}`);
          const restored = await storeStep('restore', store, { set: set.name })({ ...sources[store], safety, force: input.force, ...(staged ? { staged } : {}) });
          phases.set(store, 'checking the restored content');
          const now = await storeStep('summarize', store, { set: set.name })({ restoreId, ...sideBySide });
          const differences = summaryDifferences(restored.expected ?? sources[store].summary, now);
          if (differences.length > 0) {
            throw ApplicationFailure.nonRetryable(`${label} after the restore does not hold what the set holds: ${differences.slice(0, 3).join('; ')}`, 'VerificationFailed');
          }
          reports[store] = { ...reports[store]!, status: 'restored', details: [safety.description, ...reports[store]!.details, ...restored.details] };
          phases.set(store, 'restored');
        } catch (error) {
          stages.get(store)!.reject(STOPPED_BY_ANOTHER_STORE);
          // A store stopped because another one failed, because the run was cancelled, or because a check of the set failed, did not fail itself.
          if (!isCancellation(error) && error !== checkFailure && error !== STOPPED_BY_ANOTHER_STORE) {
            reports[store] = { ...reports[store]!, status: 'failed', error: reasonOf(error) };
          }
          throw error;
        }
      };
      const runs = stores.map((store) => restoring.run(() => restoreOne(store)));
      try {
        await Promise.all(runs);
      } catch (caught) {
        // A stage that read a damaged file may fail before the checksums say so: the checksums' verdict names the cause.
        const checksumFailure: unknown = await checksums.then(
          () => undefined,
          (error: unknown) => error,
        );
        // A failed check of the set stopped the stores: the failure is the check's, not a cancellation.
        const failedCheck = [checksumFailure, checkFailure].find((failure) => failure !== undefined && !isCancellation(failure));
        const error = failedCheck ?? caught;
        restoring.cancel();
        await Promise.allSettled(runs);
        await stopChecks();
        await CancellationScope.nonCancellable(async () => {
          await rollBack(safeties, restoreId, reports, on);
          await undoWaiting(waiting, restoreId, reports, on);
        });
        const touched = safeties.length > 0;
        outcome = isCancellation(error) ? (touched ? 'cancelled, rolled back' : 'cancelled') : touched ? 'failed, rolled back' : `failed: ${reasonOf(error)}`;
        if (isCancellation(error)) throw error;
        const summary = stores.map((store) => `${STORE_LABELS[store]} ${reports[store]!.status}`).join(', ');
        throw ApplicationFailure.create({
          message: `restore from ${set.name} failed: ${reasonOf(error)} (${summary})`,
          type: RESTORE_FAILED,
          nonRetryable: true,
          details: [result],
        });
      }

      setCurrentDetails('Releasing safety snapshots');
      for (const { store, safety } of safeties) {
        try {
          const summary = input.keepSafety ? `Keep the ${STORE_LABELS[store]} safety snapshot (--keep-safety)` : undefined;
          await storeStep('release', store, { summary })({ restoreId, safety, keep: input.keepSafety });
          if (input.keepSafety) reports[store]!.details.push(`kept: ${safety.description}`);
        } catch (error) {
          reports[store]!.details.push(`the safety snapshot could not be removed: ${reasonOf(error)}`);
        }
      }
      outcome = 'restored';
      recordRun({ outcome: 'restored' });
      setCurrentDetails(`Restored ${stores.map((store) => STORE_LABELS[store]).join(', ')} from ${set.name}`);
    };
    if (underTheLock) await withBackupLock('restore', changeStores);
    else await changeStores();
    await notify({
      kind: 'restore',
      outcome: 'succeeded',
      title: `restore of ${stores.map((store) => STORE_LABELS[store]).join(', ')} from ${set.name} succeeded`,
      set: set.name,
      details: describeReports(reports),
    });
    return result;
  } catch (error) {
    if (outcome === 'failed') outcome = isCancellation(error) ? 'cancelled' : `failed: ${reasonOf(error)}`;
    const rollbackFailed = Object.values(reports).some((report) => report?.status === 'rollback failed');
    const ended: RunOutcome = isCancellation(error) ? 'cancelled' : rollbackFailed ? 'rollback failed' : outcome.endsWith('rolled back') ? 'rolled back' : 'failed';
    recordRun({ outcome: ended });
    setCurrentDetails(isCancellation(error) ? `Cancelled${outcome.endsWith('rolled back') ? '; every store it changed was rolled back' : ''}` : `Failed: ${reasonOf(error)}`);
    if (!input.dryRun) {
      const failed = (Object.entries(reports) as [StoreName, StoreRestoreReport][]).find(([, report]) => report.status === 'failed' || report.status === 'rollback failed');
      // A failed store whose partial changes were undone counts as rolled back too.
      const rolledBack = Object.values(reports).some((report) => report?.status === 'rolled back' || report?.details.some((detail) => detail.startsWith('rolled back: ')));
      await notify({
        kind: 'restore',
        outcome: rolledBack ? 'rolled back' : 'failed',
        title: `restore from ${setName} ${isCancellation(error) ? 'was cancelled' : 'failed'}${rolledBack ? '; changed stores were rolled back' : ''}`,
        set: setName,
        store: failed ? STORE_LABELS[failed[0]] : undefined,
        reason: isCancellation(error) ? 'the run was cancelled' : reasonOf(error),
        details: describeReports(reports),
      });
    }
    throw error;
  } finally {
    await CancellationScope.nonCancellable(() =>
      withSummary(audit.recordAudit, 'Append the restore to the audit log')({
        event: 'restore',
        at: workflowInfo().startTime.toISOString(),
        by: input.requestedBy,
        workflowId: workflowInfo().workflowId,
        set: setName,
        tier,
        stores,
        dryRun: input.dryRun,
        outcome,
      }),
    );
  }
}

const restoreReport = defineQuery<RestoreWorkflowResult>(RESTORE_REPORT_QUERY);
/** Restores recorded before an encrypted set was refused at once on a worker without identity replay without that step. */
const ENCRYPTED_SET_IDENTITY = 'encrypted-set-identity';
/** Restores recorded before the deep checks ran beside the safety snapshots and the stage replay with the checks first. */
const STAGED_RESTORE = 'deep-checks-beside-the-stage';
/** Restores recorded before the checksums ran beside the preflight, the safety snapshots and the stages replay with the checksums first. */
const CHECKSUMS_BESIDE_THE_STAGE = 'checksums-beside-the-stage';
/** Patch of restores recorded before their steps were bound to one worker and could download from the bucket. */
const RESTORE_ON_ONE_WORKER = 'restore-on-one-worker-offsite';
/** Restores recorded before a restore took the backup lock. */
const RESTORE_TAKES_THE_BACKUP_LOCK = 'restore-takes-the-backup-lock';

function describeReference(reference: string): string {
  return reference === 'latest' ? 'Find the newest complete set in BACKUP_DIR' : `Find ${reference} in BACKUP_DIR and read its manifest`;
}

function describeReports(reports: RestoreWorkflowResult['stores']): string[] {
  return (Object.entries(reports) as [StoreName, StoreRestoreReport][]).map(
    ([store, report]) =>
      `${STORE_LABELS[store]}: ${report.status}${report.error ? `: ${report.error}` : ''}${report.rollbackError ? `; rollback failed: ${report.rollbackError}` : ''}`,
  );
}

async function rollBack(
  safeties: readonly { store: StoreName; safety: SafetySnapshot }[],
  restoreId: string,
  reports: RestoreWorkflowResult['stores'],
  { storeActivity }: Pick<RunActivities, 'storeActivity'>,
): Promise<void> {
  for (const { store, safety } of safeties) {
    setCurrentDetails(`${STORE_LABELS[store]}: rolling back`);
    const report = reports[store]!;
    try {
      await storeActivity('rollback', store)({ restoreId, safety });
      report.details.push(`rolled back: ${safety.description}`);
      if (report.status === 'failed') report.details.push('its partial changes were rolled back');
      else report.status = 'rolled back';
    } catch (error) {
      report.status = 'rollback failed';
      report.rollbackError = `${reasonOf(error)}; the safety snapshot is kept: ${safety.description}`;
    }
  }
}

/** What a store waiting for the others is stopped with when one of them failed before staging. */
const STOPPED_BY_ANOTHER_STORE = new Error('another store failed before its restore could start');

/** A promise settled from outside, once (later calls do nothing). */
function settlement(): { done: Promise<void>; resolve: () => void; reject: (reason: unknown) => void } {
  let resolve!: () => void;
  let reject!: (reason: unknown) => void;
  const done = new Promise<void>((resolveDone, rejectDone) => {
    resolve = resolveDone;
    reject = rejectDone;
  });
  done.catch(() => undefined);
  return { done, resolve, reject };
}

/**
 * For stores whose restore never started: what their stage left beside the target is removed (the
 * rollback verb, which for a target never changed only drops the staged copy), and their safety
 * snapshots are released. The targets were not touched, so the stores stay `untouched`.
 */
async function undoWaiting(
  waiting: ReadonlyMap<StoreName, { safety: SafetySnapshot; staged: boolean }>,
  restoreId: string,
  reports: RestoreWorkflowResult['stores'],
  { storeActivity }: Pick<RunActivities, 'storeActivity'>,
): Promise<void> {
  for (const [store, { safety, staged }] of waiting) {
    const report = reports[store]!;
    try {
      if (staged) {
        await storeActivity('rollback', store, { summary: `Remove the staged ${STORE_LABELS[store]} restore; the target was not touched` })({ restoreId, safety });
        report.details.push('the staged restore was removed; the target was not touched');
      }
      await storeActivity('release', store)({ restoreId, safety, keep: false });
    } catch (error) {
      report.details.push(`what the restore prepared could not be removed: ${reasonOf(error)}; ${safety.description}`);
    }
  }
}

/** What each store's restore is doing, shown as the run's current details in the Web UI. */
class StorePhases {
  private readonly phases = new Map<StoreName, string>();

  set(store: StoreName, phase: string): void {
    this.phases.set(store, phase);
    setCurrentDetails([...this.phases].map(([name, current]) => `${STORE_LABELS[name]}: ${current}`).join('; '));
  }
}

/** The requested stores, each of which the set must hold; by default every store it holds. */
export function storesToRestore(manifest: Manifest, requested: readonly StoreName[] | undefined): StoreName[] {
  const held = STORE_NAMES.filter((store) => manifest.stores[store]?.status === 'ok');
  if (!requested || requested.length === 0) {
    if (held.length === 0) throw ApplicationFailure.nonRetryable(`backup set ${manifest.name} holds no store that can be restored`, 'SetNotFound');
    return held;
  }
  for (const store of requested) {
    const record = manifest.stores[store];
    if (record?.status !== 'ok') {
      const why = record?.status === 'failed' ? `its ${STORE_LABELS[store]} backup failed: ${record.error}` : `it has no ${STORE_LABELS[store]} backup`;
      throw ApplicationFailure.nonRetryable(`backup set ${manifest.name} cannot restore ${store}: ${why}`, 'SetNotFound');
    }
  }
  return STORE_NAMES.filter((store) => requested.includes(store));
}

export function sourceOf(manifest: Manifest, store: StoreName, restoreId: string): RestoreSource {
  const record = manifest.stores[store];
  if (record?.status !== 'ok') throw ApplicationFailure.nonRetryable(`backup set ${manifest.name} has no ${store} backup`, 'SetNotFound');
  return { restoreId, setName: manifest.name, files: record.files, summary: record.summary, serverVersion: record.serverVersion };
}
