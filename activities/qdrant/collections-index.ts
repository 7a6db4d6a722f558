/**
 * `collections.json`, what the Qdrant adapter records about collections (in the set's archive and in
 * a safety snapshot folder): per collection its snapshot, point count, full config and payload
 * indexes; the aliases; the server's version.
 */
import { z } from 'zod';
import type { Config } from '../../core/config';
import type { ContentSummary } from '../../core/manifest';

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
  /**
   * Present when writes ran while the snapshot was taken: the exact counts before and after it, low
   * first. The snapshot holds a count in that range (Qdrant captures each shard's WAL near the end).
   */
  pointsRange: z.tuple([z.number().int().nonnegative(), z.number().int().nonnegative()]).optional(),
  /** `config` of GET /collections/{name}: params (vectors, shards...), hnsw, optimizers, wal, quantization. */
  config: z.record(z.string(), z.unknown()),
  payloadSchema: z.unknown(),
});
export type RecordedCollection = z.infer<typeof recordedCollectionSchema>;

const collectionsIndexSchema = z.object({
  format: z.literal(INDEX_FORMAT),
  version: z.literal(1),
  /**
   * The server's version (GET /) when the snapshots were made: what compatibility is judged by. A
   * snapshot's own `version.info` holds the version of Qdrant's `collection` crate (0.4.2 from 1.13 to
   * 1.19), not the server's.
   */
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

/** The `collections.json` of an archive or a safety snapshot. */
export function collectionsIndex(config: Config, qdrantVersion: string, collections: RecordedCollection[], aliases: Alias[]): CollectionsIndex {
  return {
    format: INDEX_FORMAT,
    version: 1,
    qdrantVersion,
    createdAt: new Date().toISOString(),
    scope: config.qdrant.collections?.length ? [...config.qdrant.collections] : null,
    collections,
    aliases,
  };
}

/** The point counts a set or safety snapshot records, as a content summary. */
export function summaryOfIndex(index: CollectionsIndex, only?: (name: string) => boolean): ContentSummary {
  return {
    unit: 'points',
    counts: Object.fromEntries(index.collections.filter((c) => !only || only(c.name)).map((c) => [c.name, c.points])),
  };
}

export const aliasKey = (a: Alias): string => `${a.alias_name}\u0000${a.collection_name}`;

/** One line per alias, `alias → collection`, sorted. */
export function describeAliases(aliases: readonly Alias[]): string {
  return aliases.map((a) => `${a.alias_name} → ${a.collection_name}`).sort().join(', ');
}
