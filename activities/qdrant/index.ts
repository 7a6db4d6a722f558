/**
 * The Qdrant adapter: the contract's verbs (core/contract.ts) mapped to this folder's functions.
 * Backup: one snapshot per collection through the REST API, streamed into the set's
 * `qdrant_<stamp>/qdrant_snapshot.tar.gz` (backup.ts, archive.ts). Restore: each collection deleted,
 * then recreated by Qdrant from its uploaded snapshot (restore.ts, snapshots.ts), aliases set one
 * action at a time (aliases.ts). QDRANT_COLLECTIONS limits every verb to those collections (scope.ts).
 */
import type { Config } from '../../core/config';
import type { StoreAdapter } from '../../core/contract';
import { withProgress } from '../heartbeat';
import { backup } from './backup';
import { preflight } from './preflight';
import { probe } from './probe';
import { restore } from './restore';
import { release, rollback, safetySnapshot } from './safety';
import { summarize } from './summarize';
import { verify } from './verify';

export function createQdrantAdapter(config: Config): StoreAdapter {
  return {
    probe: () => probe(config),
    backup: ({ set }) => withProgress((progress) => backup(config, set, progress)),
    verify: (input) => withProgress((progress) => verify(config, input, progress)),
    preflight: (input) => withProgress((progress) => preflight(config, input, progress)),
    safetySnapshot: (input) => withProgress((progress) => safetySnapshot(config, input, progress)),
    restore: (input) => withProgress((progress) => restore(config, input, progress)),
    summarize: () => withProgress((progress) => summarize(config, progress)),
    rollback: (input) => withProgress((progress) => rollback(config, input, progress)),
    release: (input) => withProgress(() => release(config, input)),
    // Its restore writes to the live target from the first byte: nothing to stage beside it.
    stage: () => Promise.resolve({ staged: false, details: [] }),
  };
}
