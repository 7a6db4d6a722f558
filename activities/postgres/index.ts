import type { Config } from '../../core/config';
import type { StoreAdapter } from '../../core/contract';
import { setDirectory } from '../repository/sets';
import { withProgress } from '../heartbeat';
import { backup } from './backup';
import { preflight } from './preflight';
import { probe } from './probe';
import { restore } from './restore';
import { release, rollback, safetySnapshot } from './safety';
import { summarize } from './summarize';
import { verify } from './verify';

/** PostgreSQL adapter: every verb of the store contract. */
export function createPostgresAdapter(config: Config): StoreAdapter {
  return {
    probe: () => probe(config),
    backup: ({ set }) => withProgress((progress) => backup(config, setDirectory(config.backupDir, set.name, 'staging'), set.stamp, progress)),
    verify: (input) => withProgress((progress) => verify(config, input, progress)),
    preflight: (input) => withProgress((progress) => preflight(config, input, progress)),
    safetySnapshot: (input) => withProgress((progress) => safetySnapshot(config, input, progress)),
    restore: (input) => withProgress((progress) => restore(config, input, progress)),
    summarize: () => withProgress((progress) => summarize(config, progress)),
    rollback: ({ safety }) => withProgress((progress) => rollback(config, safety, progress)),
    release: ({ safety, keep }) => withProgress((progress) => release(config, safety, keep, progress)),
  };
}
