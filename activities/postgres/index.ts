import type { Config } from '../../core/config';
import type { StoreAdapter } from '../../core/contract';
import { setDirectory } from '../repository/sets';
import { withProgress } from '../heartbeat';
import { backup, probe, verify } from './backup';
import { postgresRestorer } from './restore';

/** PostgreSQL adapter: every verb of the store contract. */
export function createPostgresAdapter(config: Config): StoreAdapter {
  const restorer = postgresRestorer(config);
  return {
    probe: () => probe(config),
    backup: ({ set }) =>
      withProgress((progress) => backup(config, setDirectory(config.backupDir, set.name, 'staging'), set.stamp, progress)),
    verify: (input) => withProgress((progress) => verify(config, input, progress)),
    preflight: (input) => withProgress((progress) => restorer.preflight(input, progress)),
    safetySnapshot: (input) => restorer.safetySnapshot(input),
    restore: (input) => withProgress((progress) => restorer.restore(input, progress)),
    summarize: () => restorer.summarize(),
    rollback: ({ safety }) => withProgress(() => restorer.rollback(safety)),
    release: ({ safety, keep }) => restorer.release(safety, keep),
  };
}
