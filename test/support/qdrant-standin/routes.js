"use strict";
var __createBinding = (this && this.__createBinding) || (Object.create ? (function(o, m, k, k2) {
    if (k2 === undefined) k2 = k;
    var desc = Object.getOwnPropertyDescriptor(m, k);
    if (!desc || ("get" in desc ? !m.__esModule : desc.writable || desc.configurable)) {
      desc = { enumerable: true, get: function() { return m[k]; } };
    }
    Object.defineProperty(o, k2, desc);
}) : (function(o, m, k, k2) {
    if (k2 === undefined) k2 = k;
    o[k2] = m[k];
}));
var __setModuleDefault = (this && this.__setModuleDefault) || (Object.create ? (function(o, v) {
    Object.defineProperty(o, "default", { enumerable: true, value: v });
}) : function(o, v) {
    o["default"] = v;
});
var __importStar = (this && this.__importStar) || (function () {
    var ownKeys = function(o) {
        ownKeys = Object.getOwnPropertyNames || function (o) {
            var ar = [];
            for (var k in o) if (Object.prototype.hasOwnProperty.call(o, k)) ar[ar.length] = k;
            return ar;
        };
        return ownKeys(o);
    };
    return function (mod) {
        if (mod && mod.__esModule) return mod;
        var result = {};
        if (mod != null) for (var k = ownKeys(mod), i = 0; i < k.length; i++) if (k[i] !== "default") __createBinding(result, mod, k[i]);
        __setModuleDefault(result, mod);
        return result;
    };
})();
Object.defineProperty(exports, "__esModule", { value: true });
exports.routes = routes;
/**
 * The REST endpoints the backup tool uses, with paths, parameters and result shapes from Qdrant's
 * OpenAPI schema and status codes / messages from the server source (src/actix/api/*.rs).
 */
const node_crypto_1 = require("node:crypto");
const fs = __importStar(require("node:fs"));
const http = __importStar(require("node:http"));
const https = __importStar(require("node:https"));
const path = __importStar(require("node:path"));
const promises_1 = require("node:stream/promises");
const node_url_1 = require("node:url");
const errors_1 = require("./errors");
const http_1 = require("./http");
const model_1 = require("./model");
const multipart_1 = require("./multipart");
const PRIORITIES = ['no_sync', 'snapshot', 'replica'];
const INVALID_NAME_CHARS = ['<', '>', ':', '"', '/', '\\', '|', '?', '*', '\0', '\u001f'];
/** Names that become directories must pass Qdrant's StrictCollectionPath rules (422 otherwise). */
function checkNewCollectionName(name) {
    const bad = INVALID_NAME_CHARS.find((c) => name.includes(c));
    if (bad)
        throw (0, errors_1.validationError)('path parameters', `collection_name: collection name cannot contain "${bad}" char`);
    if (name.length < 1 || name.length > 255) {
        throw (0, errors_1.validationError)('path parameters', 'collection_name: length must be between 1 and 255');
    }
    if (name === '.' || name === '..')
        throw (0, errors_1.validationError)('path parameters', 'collection_name: stand-in rejects "." and ".."');
}
function parsePriority(value, where) {
    if (value === undefined || value === null)
        return;
    if (typeof value !== 'string' || !PRIORITIES.includes(value)) {
        const message = `unknown variant \`${String(value)}\`, expected one of \`no_sync\`, \`snapshot\`, \`replica\``;
        throw where === 'JSON body' ? (0, errors_1.formatError)(message) : new errors_1.ApiError(400, `Deserialize error in ${where}: ${message}`);
    }
}
function parseChecksum(value, where) {
    if (value === undefined || value === null)
        return undefined;
    if (typeof value !== 'string' || !/^[0-9a-fA-F]{64}$/.test(value.trim())) {
        throw (0, errors_1.validationError)(where, 'checksum: invalid SHA-256 hash, expected 64 hexadecimal characters');
    }
    return value;
}
/** Qdrant compares checksums ignoring case and whitespace (lib/collection/src/common/sha_256.rs). */
const hashesEqual = (a, b) => a.replace(/\s/g, '').toLowerCase() === b.replace(/\s/g, '').toLowerCase();
async function sha256File(file) {
    const hash = (0, node_crypto_1.createHash)('sha256');
    await (0, promises_1.pipeline)(fs.createReadStream(file), hash);
    return hash.digest('hex');
}
/** Fetches `url` to `file` without buffering; the optional api key is sent like Qdrant does for URL recovery. */
async function download(url, file, apiKey) {
    const client = url.protocol === 'https:' ? https : http;
    const response = await new Promise((resolve, reject) => {
        client.get(url, { headers: apiKey ? { 'api-key': apiKey } : {} }, resolve).on('error', reject);
    });
    if (response.statusCode !== 200) {
        response.resume();
        throw (0, errors_1.badRequest)(`Failed to download snapshot from ${url.href}: HTTP ${response.statusCode}`);
    }
    await (0, promises_1.pipeline)(response, fs.createWriteStream(file));
}
/** Answers with the task's result, or with 202 right away and the task running on (Qdrant's `time_or_accept`). */
async function timeOrAccept(ctx, wait, task) {
    if (wait)
        return (0, http_1.sendResult)(ctx, await task());
    ctx.background(task());
    (0, http_1.sendAccepted)(ctx);
}
/** Streams a snapshot from disk, with Content-Length and single-range support like actix NamedFile. */
async function sendSnapshotFile(ctx, file) {
    const { size } = fs.statSync(file);
    const headers = {
        'content-type': 'application/octet-stream',
        'content-disposition': `attachment; filename="${path.basename(file)}"`,
        'accept-ranges': 'bytes',
    };
    let [start, end, status] = [0, size - 1, 200];
    const range = /^bytes=(\d*)-(\d*)$/.exec(ctx.req.headers.range ?? '');
    if (range && (range[1] || range[2])) {
        start = range[1] ? Number(range[1]) : Math.max(0, size - Number(range[2]));
        end = range[1] && range[2] ? Math.min(Number(range[2]), size - 1) : size - 1;
        if (start >= size || start > end) {
            ctx.res.writeHead(416, { ...headers, 'content-range': `bytes */${size}` }).end();
            return;
        }
        status = 206;
        headers['content-range'] = `bytes ${start}-${end}/${size}`;
    }
    ctx.res.writeHead(status, { ...headers, 'content-length': size === 0 ? 0 : end - start + 1 });
    if (size === 0)
        return void ctx.res.end();
    await (0, promises_1.pipeline)(fs.createReadStream(file, { start, end }), ctx.res);
}
function routes(storage, version) {
    const body = async (ctx) => {
        const value = await (0, http_1.readJsonBody)(ctx.req);
        if (!(0, model_1.isObject)(value))
            throw (0, errors_1.formatError)('invalid type: expected a JSON object');
        return value;
    };
    const name = (ctx) => ctx.params[0] ?? '';
    return [
        // The extra `standin` field is not in Qdrant's VersionInfo: it keeps anyone from mistaking this for a server.
        (0, http_1.route)('GET', '/', async ({ res }) => (0, http_1.sendJson)(res, 200, { title: 'qdrant - vector search engine', version, standin: true })),
        (0, http_1.route)('GET', '/healthz', async ({ res }) => (0, http_1.sendText)(res, 200, 'healthz check passed')),
        (0, http_1.route)('GET', '/livez', async ({ res }) => (0, http_1.sendText)(res, 200, 'healthz check passed')),
        (0, http_1.route)('GET', '/readyz', async ({ res }) => (0, http_1.sendText)(res, 200, 'all shards are ready')),
        // ---- collections ----
        (0, http_1.route)('GET', '/collections', async (ctx) => (0, http_1.sendResult)(ctx, { collections: storage.collectionNames().map((n) => ({ name: n })) })),
        (0, http_1.route)('GET', '/collections/{name}', async (ctx) => (0, http_1.sendResult)(ctx, storage.collectionInfo(name(ctx)))),
        (0, http_1.route)('PUT', '/collections/{name}', async (ctx) => {
            checkNewCollectionName(name(ctx));
            storage.createCollection(name(ctx), (0, model_1.parseCreateCollection)(await body(ctx)));
            (0, http_1.sendResult)(ctx, true);
        }),
        (0, http_1.route)('DELETE', '/collections/{name}', async (ctx) => (0, http_1.sendResult)(ctx, storage.deleteCollection(name(ctx)))),
        (0, http_1.route)('GET', '/collections/{name}/exists', async (ctx) => (0, http_1.sendResult)(ctx, { exists: storage.hasCollection(name(ctx)) })),
        // ---- points ----
        (0, http_1.route)('PUT', '/collections/{name}/points', async (ctx) => {
            const wait = (0, http_1.queryBool)(ctx.query, 'wait') ?? false;
            const request = await body(ctx);
            const points = (0, model_1.parseUpsert)(request, storage.collection(name(ctx)).config);
            const operation_id = storage.upsert(name(ctx), points);
            (0, http_1.sendResult)(ctx, { operation_id, status: wait ? 'completed' : 'acknowledged' });
        }),
        (0, http_1.route)('POST', '/collections/{name}/points', async (ctx) => {
            const request = await body(ctx);
            const ids = (0, model_1.parseIdList)(request.ids, 'ids');
            const [withPayload, withVector] = [(0, model_1.parseWithPayload)(request.with_payload), (0, model_1.parseWithVector)(request.with_vector)];
            const points = storage.collection(name(ctx)).points;
            // Request order, each id once, missing ids skipped (lib/collection/src/collection/point_ops.rs).
            const keys = [...new Set(ids.map(model_1.pointKey))];
            const found = keys.flatMap((k) => points.get(k) ?? []);
            (0, http_1.sendResult)(ctx, found.map((p) => (0, model_1.toRecord)(p, withPayload, withVector)));
        }),
        (0, http_1.route)('GET', '/collections/{name}/points/{id}', async (ctx) => {
            const raw = ctx.params[1] ?? '';
            const id = (0, model_1.parsePointId)(/^\d+$/.test(raw) ? Number(raw) : raw);
            const point = storage.collection(name(ctx)).points.get((0, model_1.pointKey)(id));
            if (!point)
                throw (0, errors_1.notFound)(`No point with id ${id} found`);
            (0, http_1.sendResult)(ctx, (0, model_1.toRecord)(point, (0, model_1.parseWithPayload)(true), (0, model_1.parseWithVector)(true)));
        }),
        (0, http_1.route)('POST', '/collections/{name}/points/delete', async (ctx) => {
            const wait = (0, http_1.queryBool)(ctx.query, 'wait') ?? false;
            const request = await body(ctx);
            if ('filter' in request && !('points' in request))
                throw (0, errors_1.notImplemented)('deleting points by filter');
            const ids = (0, model_1.parseIdList)(request.points, 'points');
            const operation_id = storage.deletePoints(name(ctx), ids);
            (0, http_1.sendResult)(ctx, { operation_id, status: wait ? 'completed' : 'acknowledged' });
        }),
        (0, http_1.route)('POST', '/collections/{name}/points/count', async (ctx) => {
            const request = await body(ctx);
            if (request.filter !== undefined && request.filter !== null)
                throw (0, errors_1.notImplemented)('count with a filter');
            (0, http_1.sendResult)(ctx, { count: storage.collection(name(ctx)).points.size });
        }),
        (0, http_1.route)('POST', '/collections/{name}/points/scroll', async (ctx) => {
            const request = await body(ctx);
            for (const field of ['filter', 'order_by']) {
                if (request[field] !== undefined && request[field] !== null)
                    throw (0, errors_1.notImplemented)(`scroll with \`${field}\``);
            }
            const limit = request.limit ?? 10;
            if (typeof limit !== 'number' || !Number.isInteger(limit) || limit < 0)
                throw (0, errors_1.formatError)('limit: expected usize');
            if (limit === 0)
                throw (0, errors_1.validationError)('JSON body', 'limit: value 0 invalid, must be 1 or larger');
            const [withPayload, withVector] = [(0, model_1.parseWithPayload)(request.with_payload), (0, model_1.parseWithVector)(request.with_vector)];
            const sorted = storage.sortedPoints(name(ctx));
            // `offset` is inclusive: the first point returned has id >= offset.
            const offset = request.offset === undefined || request.offset === null ? undefined : (0, model_1.parsePointId)(request.offset);
            const from = offset === undefined ? 0 : sorted.findIndex((p) => (0, model_1.comparePointIds)(p.id, offset) >= 0);
            const start = from === -1 ? sorted.length : from;
            (0, http_1.sendResult)(ctx, {
                points: sorted.slice(start, start + limit).map((p) => (0, model_1.toRecord)(p, withPayload, withVector)),
                next_page_offset: sorted[start + limit]?.id ?? null,
            });
        }),
        // ---- aliases ----
        (0, http_1.route)('GET', '/aliases', async (ctx) => (0, http_1.sendResult)(ctx, { aliases: storage.aliasList() })),
        (0, http_1.route)('GET', '/collections/{name}/aliases', async (ctx) => (0, http_1.sendResult)(ctx, { aliases: storage.aliasList(name(ctx)) })),
        (0, http_1.route)('POST', '/collections/aliases', async (ctx) => {
            storage.updateAliases((await body(ctx)).actions);
            (0, http_1.sendResult)(ctx, true);
        }),
        // ---- snapshots ----
        (0, http_1.route)('GET', '/collections/{name}/snapshots', async (ctx) => (0, http_1.sendResult)(ctx, storage.listSnapshots(name(ctx)))),
        (0, http_1.route)('POST', '/collections/{name}/snapshots', async (ctx) => timeOrAccept(ctx, (0, http_1.queryBool)(ctx.query, 'wait') ?? true, () => storage.createSnapshot(name(ctx)))),
        (0, http_1.route)('GET', '/collections/{name}/snapshots/{snapshot}', async (ctx) => sendSnapshotFile(ctx, storage.snapshotFile(name(ctx), ctx.params[1] ?? ''))),
        (0, http_1.route)('DELETE', '/collections/{name}/snapshots/{snapshot}', async (ctx) => timeOrAccept(ctx, (0, http_1.queryBool)(ctx.query, 'wait') ?? true, async () => {
            storage.deleteSnapshot(name(ctx), ctx.params[1] ?? '');
            return true;
        })),
        (0, http_1.route)('POST', '/collections/{name}/snapshots/upload', async (ctx) => {
            const wait = (0, http_1.queryBool)(ctx.query, 'wait') ?? true;
            parsePriority(ctx.query.get('priority') ?? undefined, 'query parameters'); // single node: validated, no effect
            const checksum = parseChecksum(ctx.query.get('checksum') ?? undefined, 'query parameters');
            checkNewCollectionName(name(ctx));
            const tmp = storage.tmpFile('.upload');
            const upload = await (0, multipart_1.receiveMultipartFile)(ctx.req, ctx.req.headers['content-type'], 'snapshot', tmp).catch((err) => {
                throw err instanceof multipart_1.MultipartError ? new errors_1.ApiError(400, `Multipart error: ${err.message}`) : err;
            });
            // Checked before the file is kept or the collection touched (src/actix/api/snapshot_api.rs).
            if (checksum && !hashesEqual(upload.sha256, checksum)) {
                fs.rmSync(tmp, { force: true });
                throw new errors_1.ApiError(400, `Checksum mismatch: expected ${upload.sha256}, actual ${checksum}`);
            }
            if (storage.takeUploadFailure()) {
                fs.rmSync(tmp, { force: true });
                throw new errors_1.ApiError(500, 'Service internal error: stand-in: upload refused by a test (failNextUploads)');
            }
            await timeOrAccept(ctx, wait, async () => {
                const file = storage.keepUploadedSnapshot(name(ctx), tmp, upload.filename);
                await storage.recoverFromSnapshot(name(ctx), file);
                return true;
            });
        }),
        (0, http_1.route)('PUT', '/collections/{name}/snapshots/recover', async (ctx) => {
            const wait = (0, http_1.queryBool)(ctx.query, 'wait') ?? true;
            const request = await body(ctx);
            if (typeof request.location !== 'string')
                throw (0, errors_1.formatError)('missing field `location`');
            let location;
            try {
                location = new URL(request.location);
            }
            catch {
                throw (0, errors_1.formatError)(`location: relative URL without a base: ${JSON.stringify(request.location)}`);
            }
            parsePriority(request.priority, 'JSON body');
            const checksum = parseChecksum(request.checksum, 'JSON body');
            const apiKey = typeof request.api_key === 'string' ? request.api_key : undefined;
            checkNewCollectionName(name(ctx));
            await timeOrAccept(ctx, wait, async () => {
                let file;
                let temporary = false;
                if (location.protocol === 'file:') {
                    try {
                        file = (0, node_url_1.fileURLToPath)(location);
                    }
                    catch {
                        throw (0, errors_1.badRequest)('Invalid snapshot URI, file path must be absolute or on localhost');
                    }
                    if (!fs.existsSync(file))
                        throw (0, errors_1.badRequest)(`Snapshot file ${JSON.stringify(file)} does not exist`);
                    if (!storage.isInsideSnapshots(file)) {
                        const root = fs.realpathSync(storage.snapshotsRoot);
                        throw (0, errors_1.forbidden)(`Snapshot file path must be inside the snapshots directory ${JSON.stringify(root)}`);
                    }
                }
                else if (location.protocol === 'http:' || location.protocol === 'https:') {
                    file = storage.tmpFile('.download');
                    temporary = true;
                }
                else {
                    throw (0, errors_1.badRequest)(`URL ${location.href} with scheme ${location.protocol.slice(0, -1)} is not supported`);
                }
                try {
                    if (temporary)
                        await download(location, file, apiKey);
                    if (checksum) {
                        const actual = await sha256File(file);
                        if (!hashesEqual(actual, checksum)) {
                            throw (0, errors_1.wrongInput)(`Snapshot checksum mismatch: expected ${checksum}, got ${actual}`);
                        }
                    }
                    await storage.recoverFromSnapshot(name(ctx), file);
                    return true;
                }
                finally {
                    if (temporary)
                        fs.rmSync(file, { force: true });
                }
            });
        }),
    ];
}
