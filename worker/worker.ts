/**
 * The worker process: registers the workflows and every activity on the task queue and runs until
 * SIGINT/SIGTERM. On shutdown, running activities get a grace period to finish or heartbeat their
 * last progress before they are cancelled (which kills their child processes).
 */
import { readFileSync } from 'node:fs';
import type { Server } from 'node:http';
import { freeLoopbackPort, serveMetrics } from './metrics';
import { DefaultLogger, NativeConnection, Runtime, Worker, type LogLevel, type WorkerOptions as TemporalWorkerOptions } from '@temporalio/worker';
import type { Config } from '../core/config';
import { createActivities } from '../activities';
import { registerSecrets } from '../core/redaction';
import { applyFileModes } from '../activities/file-modes';
import { processLogger } from '../activities/logging';
import { temporalConnectionOptions } from '../core/temporal-connection';
import { setTaskQueueOf } from '../activities/worker-binding';
import { activityInterceptors } from './activity-interceptor';
import { WorkerPair } from './worker-pair';
import { ensureSearchAttributes } from './register-search-attributes';

export interface WorkerOptions {
  /** A bundle made by `bundleWorkflowCode`; without it the workflows are bundled at start. */
  workflowBundlePath?: string;
  /** Called once the worker polls its task queue. */
  onReady?: () => void;
}

const TEMPORAL_LOG_LEVELS: Record<Config['logLevel'], LogLevel> = {
  fatal: 'ERROR',
  error: 'ERROR',
  // Activity failures are already logged, once and redacted, by the activity interceptor.
  warn: 'ERROR',
  info: 'ERROR',
  debug: 'DEBUG',
  trace: 'TRACE',
};

let runtimeInstalled = false;

/** Installs the SDK's Runtime once per process; with `sdkMetricsPort`, its Prometheus exporter on that loopback port. */
export function installRuntime(config: Config, sdkMetricsPort?: number): void {
  if (runtimeInstalled) return;
  const logger = processLogger(config.logLevel, 'temporal');
  Runtime.install({
    ...(sdkMetricsPort ? { telemetryOptions: { metrics: { prometheus: { bindAddress: `127.0.0.1:${sdkMetricsPort}` } } } } : {}),
    logger: new DefaultLogger(TEMPORAL_LOG_LEVELS[config.logLevel], (entry) => {
      const level = entry.level === 'TRACE' ? 'trace' : (entry.level.toLowerCase() as 'debug' | 'info' | 'warn' | 'error');
      logger[level](entry.meta ?? {}, entry.message);
    }),
  });
  runtimeInstalled = true;
}

export async function createWorker(config: Config, options: WorkerOptions = {}): Promise<{ worker: WorkerPair; connection: NativeConnection; metrics?: Server }> {
  registerSecrets(Object.values(config.storeUrls), [config.qdrant.apiKey, config.temporal.apiKey]);
  // Sets, safety snapshots and logs are owner-only (or group-readable) whatever umask the worker inherited.
  applyFileModes(config);
  // The SDK's exporter must own its port: it gets a loopback one, and /metrics on BACKUP_METRICS_PORT serves its page with ours.
  const sdkMetricsPort = config.metricsPort && !runtimeInstalled ? await freeLoopbackPort() : undefined;
  installRuntime(config, sdkMetricsPort);
  const connection = await NativeConnection.connect(temporalConnectionOptions(config, readFileSync));
  // The workflows upsert these; a namespace that predates them gets them here (or a warning saying how).
  const registration = await ensureSearchAttributes(connection, config.temporal.namespace);
  const log = processLogger(config.logLevel, 'worker');
  if (registration.warning) log.warn(registration.warning);
  else if (registration.added.length > 0) log.info({ added: registration.added }, 'search attributes registered');
  const activityOptions = {
    connection,
    namespace: config.temporal.namespace,
    activities: createActivities(config),
    interceptors: { activity: [activityInterceptors(config)] },
    // Dumps are CPU- and disk-bound; a few at a time is what two cores can carry.
    maxConcurrentActivityTaskExecutions: 4,
    // Progress reaches the CLI once a second, whatever the heartbeat timeout.
    maxHeartbeatThrottleInterval: '1 second',
    defaultHeartbeatThrottleInterval: '1 second',
    shutdownGraceTime: '20 seconds',
  } satisfies Omit<TemporalWorkerOptions, 'taskQueue'>;
  const shared = await Worker.create({
    ...activityOptions,
    taskQueue: config.temporal.taskQueue,
    ...(options.workflowBundlePath
      ? { workflowBundle: { codePath: options.workflowBundlePath } }
      : { workflowsPath: require.resolve('../workflows') }),
  });
  const metrics = config.metricsPort ? await serveMetrics(config, config.metricsPort, sdkMetricsPort ?? metricsPortOfRuntime) : undefined;
  if (sdkMetricsPort) metricsPortOfRuntime = sdkMetricsPort;
  // This worker's own queue: the steps of a run that touch its BACKUP_DIR (activities/worker-binding.ts).
  const own = await Worker.create({ ...activityOptions, taskQueue: setTaskQueueOf(config) });
  const worker = new WorkerPair(shared, own);
  return { worker, connection, ...(metrics ? { metrics } : {}) };
}

/** The SDK exporter's port, when the Runtime was installed with one (a second worker in the process shares it). */
let metricsPortOfRuntime: number | undefined;

export async function runWorker(config: Config, options: WorkerOptions = {}): Promise<void> {
  const log = processLogger(config.logLevel, 'worker');
  const { worker, connection, metrics } = await createWorker(config, options);
  log.info({ address: config.temporal.address, namespace: config.temporal.namespace, taskQueue: config.temporal.taskQueue }, 'worker polling');
  try {
    // The Runtime turns SIGINT/SIGTERM into a graceful shutdown, which ends run().
    const running = worker.run();
    options.onReady?.();
    await running;
    log.info('worker stopped');
  } finally {
    metrics?.close();
    await connection.close();
  }
}
