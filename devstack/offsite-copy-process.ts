/**
 * A process that copies one set offsite inside a mock activity context, as a worker's activity would:
 * configuration from the environment, the set name as argv[2]. It prints one JSON line per heartbeat
 * (`{"heartbeat":...}`) and, at the end, `{"result":...,"maxRssBytes":...}`. The offsite tests kill it
 * mid-upload (SIGKILL, a dying worker) and resume from its last heartbeat; the bench measures it.
 */
import { MockActivityEnvironment } from '@temporalio/testing';
import { loadConfig } from '../core/config';
import { createOffsiteActivities } from '../activities/offsite';

const environment = new MockActivityEnvironment({ attempt: 1 });
environment.on('heartbeat', (details: unknown) => process.stdout.write(`${JSON.stringify({ heartbeat: details })}\n`));
const activities = createOffsiteActivities(loadConfig(process.env));
environment.run(activities.copySetOffsite, { setName: process.argv[2]! }).then(
  (result) => {
    process.stdout.write(`${JSON.stringify({ result, maxRssBytes: process.resourceUsage().maxRSS * 1024 })}\n`);
    process.exit(0);
  },
  (error: Error) => {
    process.stderr.write(`${error.name}: ${error.message}\n`);
    process.exit(1);
  },
);
