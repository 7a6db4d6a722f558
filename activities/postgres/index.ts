import type { Config } from '../../core/config';
import type { StoreAdapter } from '../../core/contract';
import { setDirectory } from '../repository/sets';
import { withProgress } from '../heartbeat';
import { backup } from './backup';
import { preflight } from './preflight';
import { probe } from './probe';
import { restore, stage } from './restore';
import { isSideBySide, preflightSideBySide, restoreSideBySide, rollbackSideBySide, safetySnapshotSideBySide, summarizeDatabase } from './side-by-side';
import { release, rollback, safetySnapshot } from './safety';
import { summarize } from './summarize';
import { verify } from './verify';

/** PostgreSQL adapter: every verb of the store contract. */
export function createPostgresAdapter(config: Config): StoreAdapter {
  return {
    probe: () => probe(config),
    backup: ({ set }) => withProgress((progress) => backup(config, setDirectory(config.backupDir, set.name, 'staging'), set.stamp, progress)),
    verify: (input) => withProgress((progress) => verify(config, input, progress)),
    preflight: ({ asDatabase, ...input }) =>
      withProgress((progress) => (asDatabase ? preflightSideBySide(config, input, asDatabase, progress) : preflight(config, input, progress))),
    safetySnapshot: (input) =>
      input.asDatabase ? Promise.resolve(safetySnapshotSideBySide(input.asDatabase)) : withProgress((progress) => safetySnapshot(config, input, progress)),
    // A side-by-side restore touches nothing live at all: its restore is its stage.
    stage: ({ asDatabase, ...input }) => (asDatabase ? Promise.resolve({ staged: false, details: [] }) : withProgress((progress) => stage(config, input, progress))),
    restore: ({ asDatabase, ...input }) =>
      withProgress((progress) => (asDatabase ? restoreSideBySide(config, input, asDatabase, progress) : restore(config, input, progress))),
    summarize: ({ asDatabase }) => withProgress((progress) => (asDatabase ? summarizeDatabase(config, asDatabase, progress) : summarize(config, progress))),
    rollback: ({ safety }) =>
      withProgress((progress) => (isSideBySide(safety) ? rollbackSideBySide(config, safety, progress) : rollback(config, safety, progress))),
    // A side-by-side restore's "snapshot" is only that its database did not exist: nothing to release.
    release: ({ safety, keep }) => (isSideBySide(safety) ? Promise.resolve() : withProgress((progress) => release(config, safety, keep, progress))),
  };
}
