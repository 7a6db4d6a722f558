import type { StoreName } from '../core/stores';
import type { HealthWorkflowInput, StoreHealth } from '../core/workflow-types';
import { probeOnce } from './activity-proxies';
import { reasonOf } from './failure-reasons';
import { recordRun } from './run-attributes';

/** Probes every store from the worker, where backups run: reachability, versions, pg_dump compatibility. */
export async function healthWorkflow(input: HealthWorkflowInput): Promise<Partial<Record<StoreName, StoreHealth>>> {
  const results = await Promise.allSettled(input.components.map((store) => probeOnce(store)({ tier: 'manual' })));
  const health: Partial<Record<StoreName, StoreHealth>> = {};
  results.forEach((result, index) => {
    health[input.components[index]!] =
      result.status === 'fulfilled'
        ? { reachable: true, serverVersion: result.value.serverVersion, details: result.value.details }
        : { reachable: false, reason: reasonOf(result.reason) };
  });
  recordRun({ outcome: Object.values(health).every((store) => store?.reachable) ? 'healthy' : 'unhealthy' });
  return health;
}
