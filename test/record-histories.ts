/**
 * Records the histories that test/replay.test.ts replays: real runs of every workflow, on a private
 * dev server, private PostgreSQL and Redis and the real worker, driven through the CLI as a user would:
 * a backup (with its backup lock), a verify, a restore, a dry run, a restore that fails halfway and
 * rolls back, a health check (with its notification), a prune with --yes.
 *
 *   scripts/node.sh --import tsx test/record-histories.ts
 *   RECORD_HISTORIES_INTO=/tmp/new scripts/node.sh --import tsx test/record-histories.ts
 *
 * The files are protobufjs' JSON of the history (what `History.toJSON()` gives; test/replay.test.ts reads
 * them back with `History.fromObject`): the SDK's `historyToJSON` fails here, its proto3-JSON serializer
 * sits on a second copy of protobufjs (8.x under @temporalio/common, 7.x at the top).
 *
 * Run it after a deliberate change of a workflow (see README, "Changing a workflow safely") and commit
 * the new test/histories/*.json with the change; keep the old files that still matter for runs in flight.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { temporal } from '@temporalio/proto';
import { Redis } from 'ioredis';
import { startTemporalDevServer } from '../devstack/temporal';
import { bundleWorkflows } from '../worker/bundle';
import { seedStores } from './support/scholaria';
import { environmentFor, runCli, startStores, startWorker, temporalClient } from './support/stack';

/** RECORD_HISTORIES_INTO=<dir> records elsewhere, to pick the new files without overwriting the ones runs in flight still need. */
const HISTORIES = process.env.RECORD_HISTORIES_INTO ?? join(__dirname, 'histories');

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'scholaria-histories-'));
  const bundlePath = join(dir, 'workflow-bundle.js');
  await bundleWorkflows(bundlePath);
  const server = await startTemporalDevServer({ uiPort: false, logFile: join(dir, 'temporal.log') });
  process.env.TEST_TEMPORAL_ADDRESS = server.address;
  process.env.BACKUP_WORKFLOW_BUNDLE = bundlePath;
  const stores = await startStores('histories');
  try {
    await seedStores(stores);
    const env = environmentFor(stores, { BACKUP_NOTIFY_WEBHOOK: 'http://127.0.0.1:9/unreachable' });
    const limitedEnv = {
      ...env,
      REDIS_URL: `redis://restorer:restorer-pass@127.0.0.1:${stores.redis.port}`,
      TEMPORAL_TASK_QUEUE: `${env.TEMPORAL_TASK_QUEUE}-limited`,
    };
    const worker = await startWorker(env);
    const must = async (args: string[], runEnv = env, code = 0) => {
      const result = await runCli(args, runEnv);
      if (result.code !== code) throw new Error(`scholaria-backup ${args.join(' ')} exited ${result.code}: ${result.stderr}`);
      return result;
    };
    try {
      await must(['backup', '--tier', 'daily']);
      await must(['verify', 'latest']);
      await must(['restore', 'latest', '--dry-run']);
      await must(['restore', 'latest', '--yes']);
      await must(['prune', '--yes']);
      // No schedules exist on this private server: the health check fails and notifies.
      await must(['health-check'], env, 1);

      // A restore that fails halfway (the Redis user may not write keys starting with "r"), so the
      // saga rolls back what it changed: the same setup as test/restore.test.ts's compensation test.
      const admin = new Redis(stores.redis.url);
      await admin.acl('SETUSER', 'restorer', 'on', '>restorer-pass', '~[^r]*', '+@all', '-replicaof');
      await admin.select(2);
      await admin.del('ratelimit:uploads');
      admin.disconnect();
      const limitedWorker = await startWorker(limitedEnv);
      try {
        await must(['restore', 'latest', '--yes'], limitedEnv, 1);
      } finally {
        await limitedWorker.stop();
      }
      // The notification of the health check goes out after the CLI returns.
      await new Promise((resolve) => setTimeout(resolve, 5000));
    } finally {
      await worker.stop();
    }

    const client = await temporalClient();
    try {
      const recorded: Record<string, number> = {};
      for await (const run of client.workflow.list({ query: `TaskQueue = '${env.TEMPORAL_TASK_QUEUE}' OR TaskQueue = '${limitedEnv.TEMPORAL_TASK_QUEUE}'` })) {
        const history = await client.workflow.getHandle(run.workflowId, run.runId).fetchHistory();
        const outcome = run.status.name.toLowerCase();
        const base = `${run.type.replace(/Workflow$/, '')}-${outcome}`;
        const count = (recorded[base] = (recorded[base] ?? 0) + 1);
        const name = `${base}${count > 1 ? `-${count}` : ''}.json`;
        writeFileSync(join(HISTORIES, name), `${JSON.stringify(temporal.api.history.v1.History.fromObject(history).toJSON(), null, 1)}\n`);
        process.stdout.write(`recorded ${name} (${run.workflowId}, ${history.events?.length ?? 0} events)\n`);
      }
    } finally {
      await client.connection.close();
    }
  } finally {
    await stores.stop();
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().then(
  () => process.exit(0),
  (error: Error) => {
    process.stderr.write(`[record-histories] ${error.stack ?? error.message}\n`);
    process.exit(1);
  },
);
