/**
 * Collection/point data model and request-body validation, shaped after Qdrant's OpenAPI schema
 * (CollectionConfig, VectorParams, PointStruct, Record, ...). Pure functions, no I/O.
 */
import { formatError, notImplemented, validationError, wrongInput } from './errors';

export const DISTANCES = ['Cosine', 'Euclid', 'Dot', 'Manhattan'] as const;
export type Distance = (typeof DISTANCES)[number];
export interface VectorParams {
  size: number;
  distance: Distance;
  /** on_disk, datatype, hnsw_config ... are kept as sent but have no effect here. */
  [extra: string]: unknown;
}
export type VectorsConfig = VectorParams | { [name: string]: VectorParams };

/** SparseVectorParams, kept as sent (index, modifier). */
export type SparseVectorsConfig = { [name: string]: Record<string, unknown> };

export interface CollectionConfig {
  params: {
    vectors: VectorsConfig;
    sparse_vectors?: SparseVectorsConfig;
    shard_number: number;
    replication_factor: number;
    write_consistency_factor: number;
    on_disk_payload: boolean;
  };
  hnsw_config: Record<string, unknown>;
  optimizer_config: Record<string, unknown>;
  wal_config: Record<string, unknown>;
  quantization_config: unknown;
}

export type PointId = number | string;
/** A sparse vector: strictly increasing indices and their values. */
export interface SparseVector {
  indices: number[];
  values: number[];
}
/** Unnamed-vector collections store a plain array, named-vector collections a name → dense or sparse vector map. */
export type Vector = number[] | { [name: string]: number[] | SparseVector };
export type Payload = Record<string, unknown>;
export interface Point {
  id: PointId;
  vector: Vector;
  payload: Payload;
}

// Defaults of a stock Qdrant (config/config.yaml), as GET /collections/{name} reports them.
const DEFAULT_HNSW = { m: 16, ef_construct: 100, full_scan_threshold: 10000, max_indexing_threads: 0, on_disk: false };
const DEFAULT_OPTIMIZERS = {
  deleted_threshold: 0.2,
  vacuum_min_vector_number: 1000,
  default_segment_number: 0,
  max_segment_size: null,
  memmap_threshold: null,
  indexing_threshold: 10000,
  flush_interval_sec: 5,
  max_optimization_threads: null,
};
const DEFAULT_WAL = { wal_capacity_mb: 32, wal_segments_ahead: 0 };

export const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/** Qdrant's VectorsConfig is an untagged enum: a single VectorParams is tried before the named map. */
export function isSingleVector(v: VectorsConfig): v is VectorParams {
  return typeof v.size === 'number' && typeof v.distance === 'string';
}

function parseVectorParams(value: unknown, where: string): VectorParams {
  if (!isObject(value)) throw formatError(`${where}: expected VectorParams {size, distance}`);
  const { size, distance } = value;
  if (typeof size !== 'number' || !Number.isInteger(size) || size < 0) {
    throw formatError(`${where}.size: invalid value ${JSON.stringify(size)}, expected usize`);
  }
  if (size === 0) throw validationError('JSON body', `${where}.size: value 0 invalid, must be 1 or larger`);
  if (typeof distance !== 'string' || !(DISTANCES as readonly string[]).includes(distance)) {
    throw formatError(
      `${where}.distance: unknown variant \`${String(distance)}\`, expected one of ${DISTANCES.map((d) => `\`${d}\``).join(', ')}`,
    );
  }
  return { ...value, size, distance: distance as Distance };
}

export function parseVectorsConfig(value: unknown): VectorsConfig {
  if (value === undefined || value === null) return {}; // Qdrant allows collections without dense vectors
  if (isObject(value) && 'size' in value && 'distance' in value) return parseVectorParams(value, 'vectors');
  if (!isObject(value)) throw formatError('vectors: expected VectorParams or a map of named VectorParams');
  const named: { [name: string]: VectorParams } = {};
  for (const [name, params] of Object.entries(value)) named[name] = parseVectorParams(params, `vectors.${name}`);
  return named;
}

const mergeDiff = (defaults: Record<string, unknown>, diff: unknown, where: string): Record<string, unknown> => {
  if (diff === undefined || diff === null) return { ...defaults };
  if (!isObject(diff)) throw formatError(`${where}: expected an object`);
  return { ...defaults, ...Object.fromEntries(Object.entries(diff).filter(([, v]) => v !== null)) };
};

/** PUT /collections/{name} body (CreateCollection) → the config GET /collections/{name} will report. */
export function parseCreateCollection(body: unknown): CollectionConfig {
  if (!isObject(body)) throw formatError('expected CreateCollection object');
  const int = (key: string, fallback: number): number => {
    const v = body[key];
    if (v === undefined || v === null) return fallback;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) throw formatError(`${key}: expected a positive integer`);
    return v;
  };
  return {
    params: {
      vectors: parseVectorsConfig(body.vectors),
      ...(body.sparse_vectors !== undefined && body.sparse_vectors !== null ? { sparse_vectors: parseSparseVectorsConfig(body.sparse_vectors) } : {}),
      shard_number: int('shard_number', 1),
      replication_factor: int('replication_factor', 1),
      write_consistency_factor: int('write_consistency_factor', 1),
      on_disk_payload: typeof body.on_disk_payload === 'boolean' ? body.on_disk_payload : true,
    },
    hnsw_config: mergeDiff(DEFAULT_HNSW, body.hnsw_config, 'hnsw_config'),
    optimizer_config: mergeDiff(DEFAULT_OPTIMIZERS, body.optimizers_config, 'optimizers_config'),
    wal_config: mergeDiff(DEFAULT_WAL, body.wal_config, 'wal_config'),
    quantization_config: body.quantization_config ?? null,
  };
}

function parseSparseVectorsConfig(value: unknown): SparseVectorsConfig {
  if (!isObject(value)) throw formatError('sparse_vectors: expected a map of named SparseVectorParams');
  const out: SparseVectorsConfig = {};
  for (const [name, params] of Object.entries(value)) {
    if (params !== null && !isObject(params)) throw formatError(`sparse_vectors.${name}: expected SparseVectorParams`);
    out[name] = params ?? {};
  }
  return out;
}

function parseSparse(value: Record<string, unknown>, name: string): SparseVector {
  const { indices, values } = value;
  const numbers = (v: unknown): v is number[] => Array.isArray(v) && v.every((x) => typeof x === 'number' && Number.isFinite(x));
  if (!numbers(indices) || !numbers(values)) throw formatError(`vector \`${name}\`: expected a SparseVector {indices, values}`);
  if (indices.length !== values.length) throw validationError('JSON body', `${name}: indices and values must have the same length`);
  const order = indices.map((index, i) => ({ index, value: Math.fround(values[i]!) })).sort((a, b) => a.index - b.index);
  // Qdrant stores sparse vectors sorted by index.
  return { indices: order.map((e) => e.index), values: order.map((e) => e.value) };
}

/** Validates a config read back from a snapshot's (or the stand-in's own) config.json. */
export function parseStoredConfig(value: unknown): CollectionConfig {
  if (!isObject(value) || !isObject(value.params)) throw new Error('config.json has no params');
  const params = value.params;
  const count = (v: unknown): number => (typeof v === 'number' && Number.isInteger(v) && v >= 1 ? v : 1);
  const section = (v: unknown): Record<string, unknown> => (isObject(v) ? v : {});
  return {
    params: {
      vectors: parseVectorsConfig(params.vectors),
      ...(params.sparse_vectors !== undefined && params.sparse_vectors !== null ? { sparse_vectors: parseSparseVectorsConfig(params.sparse_vectors) } : {}),
      shard_number: count(params.shard_number),
      replication_factor: count(params.replication_factor),
      write_consistency_factor: count(params.write_consistency_factor),
      on_disk_payload: typeof params.on_disk_payload === 'boolean' ? params.on_disk_payload : true,
    },
    hnsw_config: section(value.hnsw_config),
    optimizer_config: section(value.optimizer_config),
    wal_config: section(value.wal_config),
    quantization_config: value.quantization_config ?? null,
  };
}

const UUID_RE = /^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$/i;

/** ExtendedPointId: an unsigned integer or a UUID; UUIDs come back lower-case and hyphenated like Qdrant's. */
export function parsePointId(value: unknown): PointId {
  if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0) return value;
  if (typeof value === 'string' && UUID_RE.test(value)) {
    const hex = value.replace(/-/g, '').toLowerCase();
    return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
  }
  throw formatError(
    `value ${JSON.stringify(value)} is not a valid point ID, valid values are either an unsigned integer or a UUID`,
  );
}

export const pointKey = (id: PointId): string => (typeof id === 'number' ? `n:${id}` : `u:${id}`);

/** Qdrant orders integer ids before UUIDs (enum variant order), UUIDs by their 128-bit value. */
export function comparePointIds(a: PointId, b: PointId): number {
  if (typeof a === 'number') return typeof b === 'number' ? a - b : -1;
  if (typeof b === 'number') return 1;
  return a < b ? -1 : a > b ? 1 : 0;
}

const F32_EPSILON = 1.1920929e-7;

function parseDense(value: unknown, params: VectorParams, name: string, normalize: boolean): number[] {
  if (!Array.isArray(value) || !value.every((x) => typeof x === 'number' && Number.isFinite(x))) {
    throw formatError(`vector${name ? ` \`${name}\`` : ''}: expected an array of numbers`);
  }
  if (value.length !== params.size) {
    throw wrongInput(`Vector dimension error: expected dim: ${params.size}, got ${value.length}`);
  }
  // Qdrant stores float32 and pre-normalises vectors of Cosine collections, so that is what reads return.
  let vec = (value as number[]).map(Math.fround);
  if (normalize && params.distance === 'Cosine') {
    const norm = Math.sqrt(vec.reduce((s, x) => s + x * x, 0));
    if (norm >= F32_EPSILON) vec = vec.map((x) => Math.fround(x / norm));
  }
  return vec;
}

/** Validates a point's vector against the collection config. `normalize` is off when reloading stored data. */
export function parseVector(value: unknown, config: CollectionConfig, normalize = true): Vector {
  const vectors = config.params.vectors;
  const sparse = config.params.sparse_vectors ?? {};
  if (isSingleVector(vectors)) {
    if (isObject(value)) {
      const other = Object.keys(value).find((k) => k !== '' && !sparse[k]);
      if (other !== undefined) throw wrongInput(`Not existing vector name error: ${other}`);
      const sparseNames = Object.keys(value).filter((k) => k !== '');
      if (sparseNames.length === 0) return parseDense(value[''], vectors, '', normalize);
      const out: { [name: string]: number[] | SparseVector } = {};
      if (value[''] !== undefined) out[''] = parseDense(value[''], vectors, '', normalize);
      for (const name of sparseNames) {
        const v = value[name];
        if (!isObject(v)) throw formatError(`vector \`${name}\`: expected a SparseVector {indices, values}`);
        out[name] = parseSparse(v, name);
      }
      return out;
    }
    return parseDense(value, vectors, '', normalize);
  }
  // A bare array on a named-vector collection addresses the default vector "" (which does not exist here).
  if (!isObject(value)) throw wrongInput('Not existing vector name error: ');
  const out: { [name: string]: number[] | SparseVector } = {};
  for (const [name, v] of Object.entries(value)) {
    const params = vectors[name];
    if (isObject(v) && config.params.sparse_vectors?.[name]) {
      out[name] = parseSparse(v, name);
      continue;
    }
    if (!params) throw wrongInput(`Not existing vector name error: ${name}`);
    if (isObject(v)) throw notImplemented('multi-dense vectors');
    out[name] = parseDense(v, params, name, normalize);
  }
  return out;
}

function parsePayload(value: unknown): Payload {
  if (value === undefined || value === null) return {};
  if (!isObject(value)) throw formatError('payload: expected a JSON object');
  return value;
}

/** PUT /collections/{name}/points body: PointsList `{points}` or PointsBatch `{batch: {ids, vectors, payloads}}`. */
export function parseUpsert(body: unknown, config: CollectionConfig): Point[] {
  if (isObject(body) && Array.isArray(body.points)) {
    return body.points.map((p: unknown) => {
      if (!isObject(p)) throw formatError('points: expected PointStruct objects');
      if (!('id' in p)) throw formatError('missing field `id`');
      if (!('vector' in p)) throw formatError('missing field `vector`');
      return { id: parsePointId(p.id), vector: parseVector(p.vector, config), payload: parsePayload(p.payload) };
    });
  }
  if (isObject(body) && isObject(body.batch) && Array.isArray(body.batch.ids)) {
    const { ids, vectors, payloads } = body.batch;
    const vectorAt = (i: number): unknown => {
      if (Array.isArray(vectors)) return vectors[i];
      if (isObject(vectors)) {
        return Object.fromEntries(Object.entries(vectors).map(([name, list]) => [name, Array.isArray(list) ? list[i] : list]));
      }
      throw formatError('batch.vectors: expected an array or a map of arrays');
    };
    return (ids as unknown[]).map((id, i) => ({
      id: parsePointId(id),
      vector: parseVector(vectorAt(i), config),
      payload: parsePayload(Array.isArray(payloads) ? payloads[i] : undefined),
    }));
  }
  throw formatError('data did not match any variant of untagged enum PointInsertOperations');
}

export function parseIdList(value: unknown, field: string): PointId[] {
  if (!Array.isArray(value)) throw formatError(`missing field \`${field}\``);
  return value.map(parsePointId);
}

/** WithPayloadInterface: bool | string[] | {include} | {exclude}; top-level keys only. */
export type PayloadSelector = (payload: Payload) => Payload | undefined;
export function parseWithPayload(value: unknown): PayloadSelector {
  if (value === undefined || value === null || value === true) return (p) => p;
  if (value === false) return () => undefined;
  const pick = (keys: unknown, keep: boolean): PayloadSelector => {
    if (!Array.isArray(keys) || !keys.every((k) => typeof k === 'string')) throw formatError('with_payload: bad selector');
    return (p) => Object.fromEntries(Object.entries(p).filter(([k]) => keys.includes(k) === keep));
  };
  if (Array.isArray(value)) return pick(value, true);
  if (isObject(value) && 'include' in value) return pick(value.include, true);
  if (isObject(value) && 'exclude' in value) return pick(value.exclude, false);
  throw formatError('with_payload: expected bool, list of keys, {include} or {exclude}');
}

/** WithVector: bool | string[] (vector names). */
export type VectorSelector = (vector: Vector) => Vector | undefined;
export function parseWithVector(value: unknown): VectorSelector {
  if (value === undefined || value === null || value === false) return () => undefined;
  if (value === true) return (v) => v;
  if (Array.isArray(value) && value.every((k) => typeof k === 'string')) {
    return (v) => (Array.isArray(v) ? v : Object.fromEntries(Object.entries(v).filter(([k]) => value.includes(k))));
  }
  throw formatError('with_vector: expected bool or list of vector names');
}

/** Record as in Qdrant's REST schema: `payload`/`vector` are omitted, not null, when not requested. */
export function toRecord(point: Point, withPayload: PayloadSelector, withVector: VectorSelector): Record<string, unknown> {
  const payload = withPayload(point.payload);
  const vector = withVector(point.vector);
  return { id: point.id, ...(payload ? { payload } : {}), ...(vector ? { vector } : {}) };
}

const PAYLOAD_TYPES = ['keyword', 'integer', 'float', 'geo', 'text', 'bool', 'datetime', 'uuid'];

/** PUT /collections/{name}/index body (CreateFieldIndex) → field name and its PayloadFieldSchema. */
export function parseCreateIndex(body: unknown): { field: string; schema: Record<string, unknown> } {
  if (!isObject(body) || typeof body.field_name !== 'string') throw formatError('missing field `field_name`');
  const schema = body.field_schema;
  if (typeof schema === 'string' && PAYLOAD_TYPES.includes(schema)) return { field: body.field_name, schema: { data_type: schema } };
  if (isObject(schema) && typeof schema.type === 'string' && PAYLOAD_TYPES.includes(schema.type)) {
    const { type, ...params } = schema;
    return { field: body.field_name, schema: { data_type: type, params: { type, ...params } } };
  }
  throw formatError('field_schema: data did not match any variant of untagged enum PayloadFieldSchema');
}

/** Key-order-insensitive equality, for comparing vectors configs. */
export function sameJson(a: unknown, b: unknown): boolean {
  const canon = (v: unknown): unknown =>
    Array.isArray(v)
      ? v.map(canon)
      : isObject(v)
        ? Object.fromEntries(Object.keys(v).sort().map((k) => [k, canon(v[k])]))
        : v;
  return JSON.stringify(canon(a)) === JSON.stringify(canon(b));
}
