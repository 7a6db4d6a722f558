/**
 * Redis adapter: every verb of the store contract. Backup takes the RDB over the replication protocol;
 * verify reads it with redis-check-rdb and a private redis-server; restore is online, by replication
 * from the worker or, where the target refuses it, a key-by-key copy.
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

export function createRedisAdapter(config: Config): StoreAdapter {
  return {
    probe: () => probe(config),
    backup: ({ set }) => withProgress((progress) => backup(config, set, progress)),
    verify: (input) => withProgress((progress) => verify(config, input, progress)),
    preflight: (input) => withProgress((progress) => preflight(config, input, progress)),
    safetySnapshot: (input) => withProgress((progress) => safetySnapshot(config, input, progress)),
    restore: (input) => withProgress((progress) => restore(config, input, progress)),
    summarize: () => withProgress((progress) => summarize(config, progress.signal)),
    rollback: (input) => withProgress((progress) => rollback(config, input, progress)),
    release: (input) => withProgress(() => release(config, input)),
    // Its restore writes to the live target from the first byte: nothing to stage beside it.
    stage: () => Promise.resolve({ staged: false, details: [] }),
  };
}
