/** QDRANT_COLLECTIONS: the collections every verb may touch (all when unset). */
import type { Config } from '../../core/config';
import { collectionNames, type QdrantConnection } from './connection';

/** Collections the configuration lets the adapter touch: all, or those of QDRANT_COLLECTIONS. */
export function scopeOf(config: Config): (name: string) => boolean {
  const configured = config.qdrant.collections;
  if (!configured || configured.length === 0) return () => true;
  const allowed = new Set(configured);
  return (name) => allowed.has(name);
}

/** The collections a verb works on: all of the server's, or QDRANT_COLLECTIONS (each must exist when `strict`). */
export async function collectionsInScope(q: QdrantConnection, config: Config, signal: AbortSignal, strict: boolean): Promise<string[]> {
  const all = await collectionNames(q, signal);
  const configured = config.qdrant.collections;
  if (!configured?.length) return all;
  const missing = configured.filter((name) => !all.includes(name));
  if (strict && missing.length > 0) {
    const error = new Error(`QDRANT_COLLECTIONS names ${missing.map((m) => `"${m}"`).join(', ')}, not found on Qdrant at ${q.where}`);
    error.name = 'ConfigError';
    throw error;
  }
  return configured.filter((name) => all.includes(name));
}
