"use strict";
Object.defineProperty(exports, "__esModule", { value: true });
exports.pointKey = exports.isObject = exports.DISTANCES = void 0;
exports.isSingleVector = isSingleVector;
exports.parseVectorsConfig = parseVectorsConfig;
exports.parseCreateCollection = parseCreateCollection;
exports.parseStoredConfig = parseStoredConfig;
exports.parsePointId = parsePointId;
exports.comparePointIds = comparePointIds;
exports.parseVector = parseVector;
exports.parseUpsert = parseUpsert;
exports.parseIdList = parseIdList;
exports.parseWithPayload = parseWithPayload;
exports.parseWithVector = parseWithVector;
exports.toRecord = toRecord;
exports.sameJson = sameJson;
/**
 * Collection/point data model and request-body validation, shaped after Qdrant's OpenAPI schema
 * (CollectionConfig, VectorParams, PointStruct, Record, ...). Pure functions, no I/O.
 */
const errors_1 = require("./errors");
exports.DISTANCES = ['Cosine', 'Euclid', 'Dot', 'Manhattan'];
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
const isObject = (v) => typeof v === 'object' && v !== null && !Array.isArray(v);
exports.isObject = isObject;
/** Qdrant's VectorsConfig is an untagged enum: a single VectorParams is tried before the named map. */
function isSingleVector(v) {
    return typeof v.size === 'number' && typeof v.distance === 'string';
}
function parseVectorParams(value, where) {
    if (!(0, exports.isObject)(value))
        throw (0, errors_1.formatError)(`${where}: expected VectorParams {size, distance}`);
    const { size, distance } = value;
    if (typeof size !== 'number' || !Number.isInteger(size) || size < 0) {
        throw (0, errors_1.formatError)(`${where}.size: invalid value ${JSON.stringify(size)}, expected usize`);
    }
    if (size === 0)
        throw (0, errors_1.validationError)('JSON body', `${where}.size: value 0 invalid, must be 1 or larger`);
    if (typeof distance !== 'string' || !exports.DISTANCES.includes(distance)) {
        throw (0, errors_1.formatError)(`${where}.distance: unknown variant \`${String(distance)}\`, expected one of ${exports.DISTANCES.map((d) => `\`${d}\``).join(', ')}`);
    }
    return { ...value, size, distance: distance };
}
function parseVectorsConfig(value) {
    if (value === undefined || value === null)
        return {}; // Qdrant allows collections without dense vectors
    if ((0, exports.isObject)(value) && 'size' in value && 'distance' in value)
        return parseVectorParams(value, 'vectors');
    if (!(0, exports.isObject)(value))
        throw (0, errors_1.formatError)('vectors: expected VectorParams or a map of named VectorParams');
    const named = {};
    for (const [name, params] of Object.entries(value))
        named[name] = parseVectorParams(params, `vectors.${name}`);
    return named;
}
const mergeDiff = (defaults, diff, where) => {
    if (diff === undefined || diff === null)
        return { ...defaults };
    if (!(0, exports.isObject)(diff))
        throw (0, errors_1.formatError)(`${where}: expected an object`);
    return { ...defaults, ...Object.fromEntries(Object.entries(diff).filter(([, v]) => v !== null)) };
};
/** PUT /collections/{name} body (CreateCollection) → the config GET /collections/{name} will report. */
function parseCreateCollection(body) {
    if (!(0, exports.isObject)(body))
        throw (0, errors_1.formatError)('expected CreateCollection object');
    const int = (key, fallback) => {
        const v = body[key];
        if (v === undefined || v === null)
            return fallback;
        if (typeof v !== 'number' || !Number.isInteger(v) || v < 1)
            throw (0, errors_1.formatError)(`${key}: expected a positive integer`);
        return v;
    };
    // One shard only: the snapshot layout and recovery below model a single local shard `0/`.
    if (int('shard_number', 1) !== 1)
        throw (0, errors_1.notImplemented)('shard_number other than 1');
    if (body.sparse_vectors !== undefined && body.sparse_vectors !== null)
        throw (0, errors_1.notImplemented)('sparse_vectors');
    return {
        params: {
            vectors: parseVectorsConfig(body.vectors),
            shard_number: 1,
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
/** Validates a config read back from a snapshot's config.json. */
function parseStoredConfig(value) {
    if (!(0, exports.isObject)(value) || !(0, exports.isObject)(value.params))
        throw new Error('config.json has no params');
    const config = value;
    config.params.vectors = parseVectorsConfig(config.params.vectors);
    return config;
}
const UUID_RE = /^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$/i;
/** ExtendedPointId: an unsigned integer or a UUID; UUIDs come back lower-case and hyphenated like Qdrant's. */
function parsePointId(value) {
    if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0)
        return value;
    if (typeof value === 'string' && UUID_RE.test(value)) {
        const hex = value.replace(/-/g, '').toLowerCase();
        return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
    }
    throw (0, errors_1.formatError)(`value ${JSON.stringify(value)} is not a valid point ID, valid values are either an unsigned integer or a UUID`);
}
const pointKey = (id) => (typeof id === 'number' ? `n:${id}` : `u:${id}`);
exports.pointKey = pointKey;
/** Qdrant orders integer ids before UUIDs (enum variant order), UUIDs by their 128-bit value. */
function comparePointIds(a, b) {
    if (typeof a === 'number')
        return typeof b === 'number' ? a - b : -1;
    if (typeof b === 'number')
        return 1;
    return a < b ? -1 : a > b ? 1 : 0;
}
const F32_EPSILON = 1.1920929e-7;
function parseDense(value, params, name, normalize) {
    if (!Array.isArray(value) || !value.every((x) => typeof x === 'number' && Number.isFinite(x))) {
        throw (0, errors_1.formatError)(`vector${name ? ` \`${name}\`` : ''}: expected an array of numbers`);
    }
    if (value.length !== params.size) {
        throw (0, errors_1.wrongInput)(`Vector dimension error: expected dim: ${params.size}, got ${value.length}`);
    }
    // Qdrant stores float32 and pre-normalises vectors of Cosine collections, so that is what reads return.
    let vec = value.map(Math.fround);
    if (normalize && params.distance === 'Cosine') {
        const norm = Math.sqrt(vec.reduce((s, x) => s + x * x, 0));
        if (norm >= F32_EPSILON)
            vec = vec.map((x) => Math.fround(x / norm));
    }
    return vec;
}
/** Validates a point's vector against the collection config. `normalize` is off when reloading stored data. */
function parseVector(value, config, normalize = true) {
    const vectors = config.params.vectors;
    if (isSingleVector(vectors)) {
        if ((0, exports.isObject)(value)) {
            const other = Object.keys(value).find((k) => k !== '');
            if (other !== undefined)
                throw (0, errors_1.wrongInput)(`Not existing vector name error: ${other}`);
            return parseDense(value[''], vectors, '', normalize);
        }
        return parseDense(value, vectors, '', normalize);
    }
    // A bare array on a named-vector collection addresses the default vector "" (which does not exist here).
    if (!(0, exports.isObject)(value))
        throw (0, errors_1.wrongInput)('Not existing vector name error: ');
    const out = {};
    for (const [name, v] of Object.entries(value)) {
        const params = vectors[name];
        if (!params)
            throw (0, errors_1.wrongInput)(`Not existing vector name error: ${name}`);
        if ((0, exports.isObject)(v))
            throw (0, errors_1.notImplemented)('sparse or multi-dense vectors');
        out[name] = parseDense(v, params, name, normalize);
    }
    return out;
}
function parsePayload(value) {
    if (value === undefined || value === null)
        return {};
    if (!(0, exports.isObject)(value))
        throw (0, errors_1.formatError)('payload: expected a JSON object');
    return value;
}
/** PUT /collections/{name}/points body: PointsList `{points}` or PointsBatch `{batch: {ids, vectors, payloads}}`. */
function parseUpsert(body, config) {
    if ((0, exports.isObject)(body) && Array.isArray(body.points)) {
        return body.points.map((p) => {
            if (!(0, exports.isObject)(p))
                throw (0, errors_1.formatError)('points: expected PointStruct objects');
            if (!('id' in p))
                throw (0, errors_1.formatError)('missing field `id`');
            if (!('vector' in p))
                throw (0, errors_1.formatError)('missing field `vector`');
            return { id: parsePointId(p.id), vector: parseVector(p.vector, config), payload: parsePayload(p.payload) };
        });
    }
    if ((0, exports.isObject)(body) && (0, exports.isObject)(body.batch) && Array.isArray(body.batch.ids)) {
        const { ids, vectors, payloads } = body.batch;
        const vectorAt = (i) => {
            if (Array.isArray(vectors))
                return vectors[i];
            if ((0, exports.isObject)(vectors)) {
                return Object.fromEntries(Object.entries(vectors).map(([name, list]) => [name, Array.isArray(list) ? list[i] : list]));
            }
            throw (0, errors_1.formatError)('batch.vectors: expected an array or a map of arrays');
        };
        return ids.map((id, i) => ({
            id: parsePointId(id),
            vector: parseVector(vectorAt(i), config),
            payload: parsePayload(Array.isArray(payloads) ? payloads[i] : undefined),
        }));
    }
    throw (0, errors_1.formatError)('data did not match any variant of untagged enum PointInsertOperations');
}
function parseIdList(value, field) {
    if (!Array.isArray(value))
        throw (0, errors_1.formatError)(`missing field \`${field}\``);
    return value.map(parsePointId);
}
function parseWithPayload(value) {
    if (value === undefined || value === null || value === true)
        return (p) => p;
    if (value === false)
        return () => undefined;
    const pick = (keys, keep) => {
        if (!Array.isArray(keys) || !keys.every((k) => typeof k === 'string'))
            throw (0, errors_1.formatError)('with_payload: bad selector');
        return (p) => Object.fromEntries(Object.entries(p).filter(([k]) => keys.includes(k) === keep));
    };
    if (Array.isArray(value))
        return pick(value, true);
    if ((0, exports.isObject)(value) && 'include' in value)
        return pick(value.include, true);
    if ((0, exports.isObject)(value) && 'exclude' in value)
        return pick(value.exclude, false);
    throw (0, errors_1.formatError)('with_payload: expected bool, list of keys, {include} or {exclude}');
}
function parseWithVector(value) {
    if (value === undefined || value === null || value === false)
        return () => undefined;
    if (value === true)
        return (v) => v;
    if (Array.isArray(value) && value.every((k) => typeof k === 'string')) {
        return (v) => (Array.isArray(v) ? v : Object.fromEntries(Object.entries(v).filter(([k]) => value.includes(k))));
    }
    throw (0, errors_1.formatError)('with_vector: expected bool or list of vector names');
}
/** Record as in Qdrant's REST schema: `payload`/`vector` are omitted, not null, when not requested. */
function toRecord(point, withPayload, withVector) {
    const payload = withPayload(point.payload);
    const vector = withVector(point.vector);
    return { id: point.id, ...(payload ? { payload } : {}), ...(vector ? { vector } : {}) };
}
/** Key-order-insensitive equality, for comparing vectors configs. */
function sameJson(a, b) {
    const canon = (v) => Array.isArray(v)
        ? v.map(canon)
        : (0, exports.isObject)(v)
            ? Object.fromEntries(Object.keys(v).sort().map((k) => [k, canon(v[k])]))
            : v;
    return JSON.stringify(canon(a)) === JSON.stringify(canon(b));
}
