/**
 * A process that copies one set offsite inside a mock activity context and prints every heartbeat as
 * a JSON line, so a test can kill it mid-upload (SIGKILL, as a dying worker) and resume from what it
 * last heartbeated. Configuration from the environment, like the worker; the set name is argv[2].
 */
import { MockActivityEnvironment } from '@temporalio/testing';
import { loadConfig } from '../../core/config';
import { createOffsiteActivities } from '../../activities/offsite';

const environment = new MockActivityEnvironment({ attempt: 1 });
environment.on('heartbeat', (details: unknown) => process.stdout.write(`${JSON.stringify(details)}\n`));
const activities = createOffsiteActivities(loadConfig(process.env));
environment.run(activities.copySetOffsite, { setName: process.argv[2]! }).then(
  () => process.exit(0),
  (error: Error) => {
    process.stderr.write(`${error.name}: ${error.message}\n`);
    process.exit(1);
  },
);
