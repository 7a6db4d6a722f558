import { ApplicationFailure, CancellationScope, isCancellation, log, patched, setCurrentDetails, workflowInfo } from '@temporalio/workflow';
import { summaryDifferences, type StoreRecord } from '../core/manifest';
import { STORE_LABELS, STORE_NAMES, type StoreName } from '../core/stores';
import type { Tier } from '../core/tiers';
import { BACKUP_FAILED, PARTIAL_BACKUP, type BackupStoreOutcome, type BackupWorkflowInput, type BackupWorkflowResult } from '../core/workflow-types';
import { audit, binding, coordination, isWorkerLost, onWorker, repository, storeActivity, withSummary, type RunActivities } from './activity-proxies';
import { copyOffsite } from './offsite-copy';
import { withBackupLock } from './backup-lock';
import { notify } from './notify';
import { failureTypeOf, reasonOf } from './failure-reasons';
import { recordRun } from './run-attributes';

/**
 * One backup run: probe every store, stage a set, back up the stores in parallel (each dump verified
 * by reading it back), then seal the set. A store that fails leaves a `partial` set naming it, and the
 * run fails so the UI and the CLI both show it; a bad configuration fails before anything is written.
 */
export async function backupWorkflow(input: BackupWorkflowInput): Promise<BackupWorkflowResult> {
  const { tier, components } = input;
  const { workflowId, runId } = workflowInfo();
  let outcome = 'failed';
  let setName: string | undefined;
  let reason: string | undefined;
  try {
    const backUpAndPrune = async () => {
      if (patched(ONE_WORKER_AND_OFFSITE)) return backUpOnOneWorker(tier, components, { id: workflowId, runId });
      const backedUp = await backUp(tier, components, { id: workflowId, runId });
      recordRun({ outcome: 'complete' });
      return { backedUp, retention: await applyRetention(tier) };
    };
    // Retention deletes sets: it runs under the lock too, so it never races another run's backup or prune.
    const ran: { backedUp: BackupWorkflowResult; retention: string[]; offsite?: BackupWorkflowResult['offsite'] } = patched('backup-lock-workflow')
      ? await withBackupLock(`${tier} backup`, backUpAndPrune)
      : await waitByPolling(workflowId).then(backUpAndPrune);
    const { backedUp: result, retention, offsite } = ran;
    outcome = 'complete';
    setName = result.set.name;
    if (offsite?.status === 'failed') setCurrentDetails(`Complete: ${result.set.name}; the offsite copy FAILED: ${offsite.error}`);
    await notify({
      kind: 'backup',
      outcome: 'succeeded',
      title: `${tier} backup ${result.set.name} is complete`,
      tier,
      set: result.set.name,
      details: [...describeStores(result), ...retention, ...describeOffsite(offsite)],
    });
    return { ...result, retention, ...(offsite ? { offsite } : {}) };
  } catch (error) {
    const partial = error instanceof ApplicationFailure && error.type === PARTIAL_BACKUP ? (error.details?.[0] as BackupWorkflowResult) : undefined;
    const failedStore = partial && (Object.entries(partial.stores) as [StoreName, BackupStoreOutcome][]).find(([, outcome]) => outcome.status === 'failed');
    outcome = partial ? 'partial' : isCancellation(error) ? 'cancelled' : 'failed';
    setName = partial?.set.name;
    reason = isCancellation(error) ? 'the run was cancelled' : reasonOf(error);
    recordRun({ outcome: partial ? 'partial' : isCancellation(error) ? 'cancelled' : 'failed' });
    setCurrentDetails(`${partial ? 'Partial' : isCancellation(error) ? 'Cancelled' : 'Failed'}: ${reason}`);
    await notify({
      kind: 'backup',
      outcome: partial ? 'partial' : 'failed',
      title: partial ? `${tier} backup ${partial.set.name} is partial` : `${tier} backup failed`,
      tier,
      set: partial?.set.name,
      store: failedStore ? STORE_LABELS[failedStore[0]] : undefined,
      reason,
      details: partial ? describeStores(partial) : [],
    });
    throw error;
  } finally {
    if (patched(AUDITED_BACKUPS)) {
      await CancellationScope.nonCancellable(() =>
        withSummary(audit.recordAudit, 'Append the backup to the audit log')({
          event: 'backup',
          at: workflowInfo().startTime.toISOString(),
          by: input.requestedBy ?? 'schedule',
          workflowId,
          set: setName,
          stores: components,
          dryRun: false,
          outcome,
          reason,
        }),
      );
    }
  }
}

/**
 * Patch of runs recorded before backups were audited and before a backup in which every store failed
 * stopped sealing an empty `partial` set: those replay as they ran.
 */
const AUDITED_BACKUPS = 'audited-backups-no-empty-set';

/** The failure of a run in which no store could be backed up, as one line naming each store's reason, in the stores' order (not the order they failed in). */
function everyStoreFailed(records: Partial<Record<StoreName, StoreRecord>>): ApplicationFailure {
  const reasons = STORE_NAMES.flatMap((store) => {
    const record = records[store];
    return record?.status === 'failed' ? [record.error] : [];
  });
  return ApplicationFailure.create({ message: `no store could be backed up, so no set was written: ${reasons.join('; ')}`, type: BACKUP_FAILED, nonRetryable: true });
}

/**
 * Patch of runs recorded before a run's local steps were bound to one worker's own task queue and
 * before the offsite copy: those replay as they ran.
 */
const ONE_WORKER_AND_OFFSITE = 'one-worker-and-offsite';

/** How many times a run may move to another worker after the one writing its set was lost. */
const WORKER_HANDOVERS = 3;

/**
 * The backup's local steps on one worker, which a worker answers for (`bindRunToWorker`, on the shared
 * queue); then local retention and, when that worker has a bucket, the offsite copy and its retention.
 * A worker lost before the seal hands the whole run to another, which stages the set afresh; the lost
 * worker's staged files stay on its disk (no other worker can reach them), and its next run there
 * discards them. Lost after the seal, the set is complete on its disk: the copy is reported failed.
 */
async function backUpOnOneWorker(tier: Tier, components: StoreName[], workflow: { id: string; runId: string }) {
  for (let handover = 0; ; handover += 1) {
    const worker = await withSummary(binding.bindRunToWorker, 'Bind the run to the worker that will write the set')();
    const on = onWorker(worker.taskQueue);
    try {
      const backedUp = await backUp(tier, components, workflow, on);
      recordRun({ outcome: 'complete' });
      const retention = await applyRetention(tier, on);
      if (!worker.offsiteUrl) return { backedUp, retention };
      setCurrentDetails(`Copying ${backedUp.set.name} to ${worker.offsiteUrl}`);
      return { backedUp, retention, offsite: await copyOffsite(backedUp.set, tier, worker.offsiteUrl, on.offsite) };
    } catch (error) {
      if (!isWorkerLost(error) || handover >= WORKER_HANDOVERS) throw error;
      log.warn('the worker writing the set is gone; the run starts afresh on another worker', { taskQueue: worker.taskQueue });
    }
  }
}

/** How runs recorded before the lock workflow queued; kept so they replay. */
async function waitByPolling(workflowId: string): Promise<void> {
  const { waitedFor } = await withSummary(coordination.waitForEarlierBackups, 'Wait until earlier backups (any tier) have finished')({
    workflowId,
    startedAt: workflowInfo().startTime.toISOString(),
  });
  if (waitedFor.length > 0) log.info('waited for earlier backups', { waitedFor });
}

/** Probe, stage, back up every store in parallel (each verified by reading it back), seal. */
async function backUp(
  tier: Tier,
  components: StoreName[],
  workflow: { id: string; runId: string },
  on: RunActivities = { storeActivity, repository },
): Promise<BackupWorkflowResult> {
  const { repository } = on;
  // Named after the moment the work starts, after any wait in the queue of backups.
  const startedAt = new Date(Date.now()).toISOString();
  const records: Partial<Record<StoreName, StoreRecord>> = {};

  setCurrentDetails(`Probing ${components.map((store) => STORE_LABELS[store]).join(', ')}`);
  const probes = await Promise.allSettled(components.map((store) => storeActivity('probe', store)({ tier })));
  const reachable: StoreName[] = [];
  probes.forEach((probe, index) => {
    const store = components[index]!;
    if (probe.status === 'fulfilled') return reachable.push(store);
    const type = failureTypeOf(probe.reason);
    if (type === 'ConfigError' || type === 'AuthenticationFailed') {
      throw ApplicationFailure.nonRetryable(reasonOf(probe.reason), type);
    }
    records[store] = { status: 'failed', error: `${STORE_LABELS[store]} probe failed: ${reasonOf(probe.reason)}` };
  });
  if (reachable.length === 0 && patched(AUDITED_BACKUPS)) throw everyStoreFailed(records);

  const set = await withSummary(repository.prepareBackupSet, `Stage a new ${tier} set in BACKUP_DIR/.partial`)({ tier, startedAt });
  recordRun({ set: set.name });
  setCurrentDetails(`Backing up ${reachable.map((store) => STORE_LABELS[store]).join(', ')} into ${set.name}`);
  try {
    await Promise.all(
      reachable.map(async (store) => {
        records[store] = await backUpStore(store, set, on);
      }),
    );
    if (components.every((store) => records[store]?.status === 'failed') && patched(AUDITED_BACKUPS)) {
      // Stores stopped by a cancellation fail as stopped: the run ends as cancelled, not as failed.
      if (CancellationScope.current().consideredCancelled) await CancellationScope.current().cancelRequested;
      throw everyStoreFailed(records);
    }
    setCurrentDetails(`Sealing ${set.name}`);
    const ordered = Object.fromEntries(components.map((store) => [store, records[store]!]));
    const sealed = await withSummary(repository.sealBackupSet, `Seal ${set.name}: re-hash every file, write SHA256SUMS and the manifest`)({
      set,
      stores: ordered,
      startedAt,
      workflow,
    });
    const result: BackupWorkflowResult = { set: sealed, stores: outcomesOf(ordered) };
    if (sealed.status !== 'complete') {
      const failed = Object.values(records).flatMap((record) => (record?.status === 'failed' ? [record.error] : []));
      throw ApplicationFailure.create({
        message: `backup set ${sealed.name} is partial: ${failed.join('; ')}`,
        type: PARTIAL_BACKUP,
        nonRetryable: true,
        details: [result],
      });
    }
    setCurrentDetails(`Complete: ${sealed.name}`);
    return result;
  } catch (error) {
    // The staged files of a lost worker are out of reach; the run starts afresh elsewhere.
    if (isWorkerLost(error)) throw error;
    // Also when the run is cancelled: the cleanup must still run, so it is shielded from the cancellation.
    await CancellationScope.nonCancellable(() => withSummary(repository.discardStagedSet, `Discard the unsealed files of ${set.name}`)({ setName: set.name }));
    throw error;
  }
}

/** Retention of the tier after its complete backup; a retention problem is reported, never fails the backup. */
async function applyRetention(tier: Tier, on: Pick<RunActivities, 'repository'> = { repository }): Promise<string[]> {
  const { repository } = on;
  try {
    const { deleted, overdue } = await withSummary(repository.applyRetention, `Apply the ${tier} retention policy to BACKUP_DIR`)({ tier });
    if (overdue.length > 0) {
      await notify({
        kind: 'prune',
        outcome: 'refused',
        title: `retention kept ${overdue.length} ${tier} sets past their retention`,
        tier,
        reason: `no newer complete, verified ${tier} set within the retention exists, so they remain the recovery points`,
        details: overdue.map((name) => `kept: ${name}`),
      });
    }
    return [...deleted.map((name) => `retention deleted ${name}`), ...overdue.map((name) => `retention kept ${name} past its retention (no newer good set)`)];
  } catch (error) {
    return [`retention failed: ${reasonOf(error)}`];
  }
}

function describeStores(result: BackupWorkflowResult): string[] {
  return (Object.entries(result.stores) as [StoreName, BackupStoreOutcome][]).map(([store, outcome]) =>
    outcome.status === 'ok' ? `${STORE_LABELS[store]}: ${outcome.bytes} bytes, verified` : `${STORE_LABELS[store]}: FAILED: ${outcome.error}`,
  );
}

async function backUpStore(store: StoreName, set: Parameters<typeof repository.sealBackupSet>[0]['set'], on: RunActivities): Promise<StoreRecord> {
  const { storeActivity } = on;
  const label = STORE_LABELS[store];
  try {
    const dumped = await storeActivity('backup', store, { set: set.name })({ set });
    const record = { status: 'ok' as const, serverVersion: dumped.serverVersion, files: dumped.files, notes: dumped.notes, phases: dumped.phases };
    // A store that parsed its files to the end while writing them, and counted their content, needs no second
    // read: the seal re-hashes every byte from disk against the hash taken while writing.
    if (dumped.checks && dumped.summary) return { ...record, summary: dumped.summary, checks: dumped.checks };
    const verified = await storeActivity('verify', store, { summary: `Read back the ${label} dump and count its content` })({
      setName: set.name,
      location: 'staging',
      files: dumped.files,
      tier: set.tier,
    });
    const differences = dumped.summary ? summaryDifferences(dumped.summary, verified.summary) : [];
    if (differences.length > 0) {
      return { status: 'failed', error: `${label}: the dump does not hold what the server had: ${differences.slice(0, 3).join('; ')}` };
    }
    return { ...record, summary: verified.summary, checks: verified.checks };
  } catch (error) {
    if (isCancellation(error) || isWorkerLost(error)) throw error;
    return { status: 'failed', error: `${label}: ${reasonOf(error)}` };
  }
}

function describeOffsite(offsite: BackupWorkflowResult['offsite']): string[] {
  if (!offsite) return [];
  const copy = offsite.status === 'copied' ? `offsite: copied to ${offsite.url} (${offsite.objects} objects, ${offsite.bytes} bytes)` : `offsite: copy to ${offsite.url} FAILED: ${offsite.error}`;
  return [copy, ...(offsite.retention ?? [])];
}

function outcomesOf(records: Partial<Record<StoreName, StoreRecord>>): BackupWorkflowResult['stores'] {
  const outcomes: BackupWorkflowResult['stores'] = {};
  for (const [store, record] of Object.entries(records) as [StoreName, StoreRecord][]) {
    outcomes[store] =
      record.status === 'ok'
        ? { status: 'ok', bytes: record.files.reduce((sum, file) => sum + file.bytes, 0), checks: record.checks, notes: record.notes }
        : { status: 'failed', error: record.error };
  }
  return outcomes;
}
