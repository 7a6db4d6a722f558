/**
 * The marker's file name in the restore's Redis safety folder: written before the target is told to
 * replicate from the worker, removed once it is a master again (replicate-into-target.ts). `status` and
 * `health-check` look for it too, so it lives apart from the replication code and its libraries.
 */
export const REPLICATION_MARKER = 'replicating-from.json';
