/** `npm run stop`: stops what the demo and dev mode left running; the data stays in `.stack/`. */
import { stopStack } from './local-stack';

stopStack().then(
  (stopped) => process.stdout.write(stopped.length ? `Stopped: ${stopped.join(', ')}\n` : 'Nothing was running.\n'),
  (error: Error) => {
    process.stderr.write(`stop: ${error.message}\n`);
    process.exit(1);
  },
);
