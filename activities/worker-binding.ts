/**
 * Each worker's own task queue (samples-typescript `worker-specific-task-queues`): a run's steps that
 * touch local files (staging, dumps, the seal, retention, the offsite copy and download, a restore's
 * reads) are sent there, so they all find the files the first one wrote. The queue is named after the
 * host and the BACKUP_DIR, not the process: a worker restarted on the same host with the same disk
 * takes up the runs its predecessor left (their staged files are still there), while a worker on
 * another host, or with another BACKUP_DIR, never receives them.
 */
import { createHash } from 'node:crypto';
import { hostname } from 'node:os';
import { resolve } from 'node:path';
import type { Config } from '../core/config';
import type { WorkerBindingActivities } from '../core/contract';

export function setTaskQueueOf(config: Pick<Config, 'backupDir' | 'temporal'>): string {
  const disk = createHash('sha256').update(resolve(config.backupDir)).digest('hex').slice(0, 12);
  return `${config.temporal.taskQueue}@${hostname()}/${disk}`;
}

export function createWorkerBindingActivities(config: Config): WorkerBindingActivities {
  const taskQueue = setTaskQueueOf(config);
  const offsiteUrl = config.offsite ? `s3://${config.offsite.bucket}${config.offsite.prefix ? `/${config.offsite.prefix}` : ''}` : undefined;
  return { bindRunToWorker: async () => ({ taskQueue, offsiteUrl }) };
}
