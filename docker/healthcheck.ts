/**
 * The backup container's health check (Dockerfile HEALTHCHECK, docker-compose.yml): healthy when the
 * worker of this container polls its task queue on Temporal (a poller whose identity is
 * `<pid>@<this hostname>`, seen within the last minutes) and BACKUP_DIR is writable.
 *
 * This is the container's liveness, not the backups' health: whether a recent complete set exists,
 * free space and the tools are `backup-scheduler.sh health-check`'s business. A freshly deployed
 * worker without any backup yet is a healthy container.
 *
 *   node --import tsx docker/healthcheck.ts      exit 0 healthy, 1 not, one line on stdout either way
 */
import { readFileSync } from 'node:fs';
import { constants } from 'node:fs';
import { access } from 'node:fs/promises';
import { hostname } from 'node:os';
import { Connection } from '@temporalio/client';
import { loadConfig, type Config } from '../core/config';
import { temporalConnectionOptions } from '../core/temporal-connection';

/** A live worker long-polls at least once a minute; older poller records are what a dead one left. */
export const POLLER_FRESH_MS = 150_000;

export interface Health {
  healthy: boolean;
  message: string;
}

/** TASK_QUEUE_TYPE_WORKFLOW and TASK_QUEUE_TYPE_ACTIVITY of Temporal's API. */
const TASK_QUEUE_TYPES = [1, 2] as const;
/** TASK_QUEUE_KIND_NORMAL. */
const NORMAL_KIND = 1;

export async function workerHealth(config: Config, host = hostname(), now = Date.now()): Promise<Health> {
  try {
    await access(config.backupDir, constants.W_OK);
  } catch (error) {
    return { healthy: false, message: `${config.backupDir} (BACKUP_DIR) is not writable: ${(error as NodeJS.ErrnoException).code ?? 'error'}` };
  }
  const { address, namespace, taskQueue } = config.temporal;
  let connection: Connection;
  try {
    connection = await Connection.connect({ ...temporalConnectionOptions(config, readFileSync), connectTimeout: '10 seconds' });
  } catch (error) {
    return { healthy: false, message: `cannot reach Temporal at ${address}: ${(error as Error).message.split('\n')[0]}` };
  }
  try {
    const seen: string[] = [];
    for (const taskQueueType of TASK_QUEUE_TYPES) {
      const response = await connection.workflowService.describeTaskQueue({
        namespace,
        taskQueue: { name: taskQueue, kind: NORMAL_KIND },
        taskQueueType,
      });
      for (const poller of response.pollers ?? []) {
        const seconds = Number(poller.lastAccessTime?.seconds ?? 0);
        const fresh = now - seconds * 1000 <= POLLER_FRESH_MS;
        if (poller.identity?.endsWith(`@${host}`) && fresh) {
          return { healthy: true, message: `worker ${poller.identity} polls task queue ${taskQueue} in namespace ${namespace} on ${address}; ${config.backupDir} is writable` };
        }
        if (poller.identity) seen.push(poller.identity);
      }
    }
    const others = seen.length ? ` (pollers seen: ${[...new Set(seen)].join(', ')})` : '';
    return { healthy: false, message: `no worker of this host (${host}) polls task queue ${taskQueue} in namespace ${namespace} on ${address}${others}` };
  } catch (error) {
    return { healthy: false, message: `cannot describe task queue ${taskQueue} in namespace ${namespace}: ${(error as Error).message.split('\n')[0]}` };
  } finally {
    await connection.close();
  }
}

async function main(): Promise<number> {
  let config: Config;
  try {
    config = loadConfig(process.env);
  } catch (error) {
    process.stdout.write(`unhealthy: ${(error as Error).message}\n`);
    return 1;
  }
  const health = await workerHealth(config);
  process.stdout.write(`${health.healthy ? 'healthy' : 'unhealthy'}: ${health.message}\n`);
  return health.healthy ? 0 : 1;
}

if (require.main === module) {
  main().then(
    (code) => process.exit(code),
    (error: Error) => {
      process.stdout.write(`unhealthy: unexpected error: ${error.message}\n`);
      process.exit(1);
    },
  );
}
