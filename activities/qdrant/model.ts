/**
 * What the Qdrant adapter records about collections (`collections.json`, in the set's archive and in a
 * safety snapshot folder), and the pure rules it applies: version compatibility, config comparison,
 * the collection scope of QDRANT_COLLECTIONS.
 */
import { z } from 'zod';
import type { Config } from '../../core/config';

export const INDEX_FILE = 'collections.json';
export const INDEX_FORMAT = 'scholaria-backup/qdrant-collections';

const aliasSchema = z.object({ alias_name: z.string().min(1), collection_name: z.string().min(1) });
export type Alias = z.infer<typeof aliasSchema>;

const recordedCollectionSchema = z.object({
  name: z.string().min(1),
  /** The snapshot's entry in the archive (`<name>.snapshot`) or its file in the safety folder. */
  file: z.string().min(1),
  /** The name Qdrant gave the snapshot on the server (deleted there after the download). */
  serverSnapshot: z.string(),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  bytes: z.number().int().nonnegative(),
  /** The sha256 Qdrant reported for its snapshot, or null when it reported none. */
  qdrantChecksum: z.string().nullable(),
  /** Exact point count, taken right after the snapshot was made. */
  points: z.number().int().nonnegative(),
  /** `config` of GET /collections/{name}: params (vectors, shards...), hnsw, optimizers, wal, quantization. */
  config: z.record(z.string(), z.unknown()),
  payloadSchema: z.unknown(),
});
export type RecordedCollection = z.infer<typeof recordedCollectionSchema>;

export const collectionsIndexSchema = z.object({
  format: z.literal(INDEX_FORMAT),
  version: z.literal(1),
  /** Qdrant's version (GET /) when the snapshots were made; each snapshot's version.info says the same. */
  qdrantVersion: z.string(),
  createdAt: z.string(),
  /** QDRANT_COLLECTIONS at the time, or null for all collections. */
  scope: z.array(z.string()).nullable(),
  collections: z.array(recordedCollectionSchema),
  /** Every alias of the server (GET /aliases), whatever the scope. */
  aliases: z.array(aliasSchema),
});
export type CollectionsIndex = z.infer<typeof collectionsIndexSchema>;

/** Parses collections.json; the message of a bad one names the field. */
export function parseIndex(text: string): CollectionsIndex {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new Error(`${INDEX_FILE} is not valid JSON`);
  }
  const parsed = collectionsIndexSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new Error(`${INDEX_FILE} is malformed at ${issue.path.join('.') || 'top level'}: ${issue.message}`);
  }
  const names = parsed.data.collections.map((c) => c.name);
  if (new Set(names).size !== names.length) throw new Error(`${INDEX_FILE} lists a collection twice`);
  return parsed.data;
}

/** Collections the configuration lets the adapter touch: all, or those of QDRANT_COLLECTIONS. */
export function scopeOf(config: Config): (name: string) => boolean {
  const configured = config.qdrant.collections;
  if (!configured || configured.length === 0) return () => true;
  const allowed = new Set(configured);
  return (name) => allowed.has(name);
}

function majorMinor(version: string): [number, number] | undefined {
  const match = /^v?(\d+)\.(\d+)/.exec(version.trim());
  return match ? [Number(match[1]), Number(match[2])] : undefined;
}

/**
 * Qdrant recovers a snapshot made by the same or the previous minor version (docs, qdrant/landing_page
 * #2610); never one from a newer version. Returns the reason a restore must not happen, if any.
 */
export function versionProblem(setVersion: string, targetVersion: string, what = 'the set'): string | undefined {
  const made = majorMinor(setVersion);
  const target = majorMinor(targetVersion);
  if (!made || !target) return `cannot compare Qdrant versions: ${what} was made by "${setVersion}", the target runs "${targetVersion}"`;
  const newer = made[0] > target[0] || (made[0] === target[0] && made[1] > target[1]);
  if (newer) {
    return `Version check: ${what} was made by Qdrant ${setVersion}, newer than the target's ${targetVersion}; Qdrant cannot recover snapshots of a newer version`;
  }
  if (made[0] !== target[0] || target[1] > made[1] + 1) {
    return `Version check: ${what} was made by Qdrant ${setVersion}, the target runs ${targetVersion}; Qdrant only recovers snapshots of the same or the previous minor version`;
  }
  return undefined;
}

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** Key-order-insensitive JSON, for comparing configs. */
export function canonicalJson(value: unknown): string {
  const canon = (v: unknown): unknown =>
    Array.isArray(v) ? v.map(canon) : isObject(v) ? Object.fromEntries(Object.keys(v).sort().map((k) => [k, canon(v[k])])) : v;
  return JSON.stringify(canon(value) ?? null);
}

/** What Qdrant refuses to change by a snapshot recovery into an existing collection: vectors and shard count. */
export function layoutOf(config: Record<string, unknown> | undefined): Record<string, unknown> {
  const params = isObject(config?.params) ? config.params : {};
  return {
    vectors: params.vectors ?? null,
    sparse_vectors: params.sparse_vectors ?? null,
    shard_number: params.shard_number ?? null,
  };
}

export function sameLayout(a: Record<string, unknown> | undefined, b: Record<string, unknown> | undefined): boolean {
  return canonicalJson(layoutOf(a)) === canonicalJson(layoutOf(b));
}

/**
 * Differences where `live` does not hold what `recorded` holds; fields only `live` has are ignored
 * (a newer server reports more). Paths are dotted, e.g. `vectors.text.size`.
 */
export function recordedDifferences(recorded: unknown, live: unknown, path = ''): string[] {
  if (isObject(recorded)) {
    if (!isObject(live)) return [`${path || 'config'}: ${JSON.stringify(recorded)} recorded, ${JSON.stringify(live ?? null)} now`];
    return Object.keys(recorded)
      .sort()
      .flatMap((key) => recordedDifferences(recorded[key], live[key], path ? `${path}.${key}` : key));
  }
  if (recorded === null && live === undefined) return [];
  return canonicalJson(recorded) === canonicalJson(live)
    ? []
    : [`${path || 'config'}: ${JSON.stringify(recorded)} recorded, ${JSON.stringify(live ?? null)} now`];
}

/** One line per alias, `alias → collection`, sorted. */
export function describeAliases(aliases: readonly Alias[]): string {
  return aliases.map((a) => `${a.alias_name} → ${a.collection_name}`).sort().join(', ');
}
