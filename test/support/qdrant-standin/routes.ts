/**
 * The REST endpoints the backup tool uses, with paths, parameters and result shapes from Qdrant's
 * OpenAPI schema and status codes / messages from the server source (src/actix/api/*.rs).
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import * as path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import { ApiError, badRequest, forbidden, formatError, notFound, notImplemented, validationError, wrongInput } from './errors';
import { answer, queryBool, readJsonBody, route, sendAccepted, sendResult, sendText, type RequestContext, type Route } from './http';
import {
  isObject,
  parseCreateCollection,
  parseCreateIndex,
  parseIdList,
  parsePointId,
  parseUpsert,
  parseWithPayload,
  parseWithVector,
  comparePointIds,
  pointKey,
  toRecord,
} from './requests';
import { receiveUpload } from './upload';
import type { Storage } from './storage';

const PRIORITIES = ['no_sync', 'snapshot', 'replica'];
const INVALID_NAME_CHARS = ['<', '>', ':', '"', '/', '\\', '|', '?', '*', '\0', '\u001f'];

/** Names that become directories must pass Qdrant's StrictCollectionPath rules (422 otherwise). */
function checkNewCollectionName(name: string): void {
  const bad = INVALID_NAME_CHARS.find((c) => name.includes(c));
  if (bad) throw validationError('path parameters', `collection_name: collection name cannot contain "${bad}" char`);
  if (name.length < 1 || name.length > 255) {
    throw validationError('path parameters', 'collection_name: length must be between 1 and 255');
  }
  if (name === '.' || name === '..') throw validationError('path parameters', 'collection_name: stand-in rejects "." and ".."');
}

function parsePriority(value: unknown, where: 'query parameters' | 'JSON body'): void {
  if (value === undefined || value === null) return;
  if (typeof value !== 'string' || !PRIORITIES.includes(value)) {
    const message = `unknown variant \`${String(value)}\`, expected one of \`no_sync\`, \`snapshot\`, \`replica\``;
    throw where === 'JSON body' ? formatError(message) : new ApiError(400, `Deserialize error in ${where}: ${message}`);
  }
}

function parseChecksum(value: unknown, where: 'query parameters' | 'JSON body'): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string' || !/^[0-9a-fA-F]{64}$/.test(value.trim())) {
    throw validationError(where, 'checksum: invalid SHA-256 hash, expected 64 hexadecimal characters');
  }
  return value;
}

/** Qdrant compares checksums ignoring case and whitespace (lib/collection/src/common/sha_256.rs). */
const hashesEqual = (a: string, b: string): boolean =>
  a.replace(/\s/g, '').toLowerCase() === b.replace(/\s/g, '').toLowerCase();

async function sha256File(file: string): Promise<string> {
  const hash = createHash('sha256');
  await pipeline(fs.createReadStream(file), hash);
  return hash.digest('hex');
}

/** Fetches `url` to `file` without buffering; the optional api key is sent like Qdrant does for URL recovery. */
async function download(url: URL, file: string, apiKey: string | undefined): Promise<void> {
  const client = url.protocol === 'https:' ? https : http;
  const response = await new Promise<http.IncomingMessage>((resolve, reject) => {
    client.get(url, { headers: apiKey ? { 'api-key': apiKey } : {} }, resolve).on('error', reject);
  });
  if (response.statusCode !== 200) {
    response.resume();
    throw badRequest(`Failed to download snapshot from ${url.href}: HTTP ${response.statusCode}`);
  }
  await pipeline(response, fs.createWriteStream(file));
}

/** Answers with the task's result, or with 202 right away and the task running on (Qdrant's `time_or_accept`). */
async function timeOrAccept(ctx: RequestContext, wait: boolean, task: () => Promise<unknown>): Promise<void> {
  if (wait) return sendResult(ctx, await task());
  ctx.background(task());
  sendAccepted(ctx);
}

/** Streams a snapshot from disk, with Content-Length and single-range support like actix NamedFile. */
async function sendSnapshotFile(ctx: RequestContext, file: string): Promise<void> {
  const { size } = fs.statSync(file);
  const headers: http.OutgoingHttpHeaders = {
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
  if (size === 0) return void ctx.res.end();
  await pipeline(fs.createReadStream(file, { start, end }), ctx.res);
}

export function routes(storage: Storage, version: string): Route[] {
  const body = async (ctx: RequestContext): Promise<Record<string, unknown>> => {
    const value = await readJsonBody(ctx.req);
    ctx.checkBody(value);
    if (!isObject(value)) throw formatError('invalid type: expected a JSON object');
    return value;
  };
  const name = (ctx: RequestContext): string => ctx.params[0] ?? '';

  return [
    // The extra `standin` field is not in Qdrant's VersionInfo: it keeps anyone from mistaking this for a server.
    route('GET', '/', async (ctx) => answer(ctx, 200, { title: 'qdrant - vector search engine', version, standin: true })),
    route('GET', '/healthz', async ({ res }) => sendText(res, 200, 'healthz check passed')),
    route('GET', '/livez', async ({ res }) => sendText(res, 200, 'healthz check passed')),
    route('GET', '/readyz', async ({ res }) => sendText(res, 200, 'all shards are ready')),

    // ---- collections ----
    route('GET', '/collections', async (ctx) =>
      sendResult(ctx, { collections: storage.collectionNames().map((n) => ({ name: n })) }),
    ),
    route('GET', '/collections/{name}', async (ctx) => sendResult(ctx, storage.collectionInfo(name(ctx)))),
    route('PUT', '/collections/{name}', async (ctx) => {
      checkNewCollectionName(name(ctx));
      storage.createCollection(name(ctx), parseCreateCollection(await body(ctx)));
      sendResult(ctx, true);
    }),
    route('DELETE', '/collections/{name}', async (ctx) => sendResult(ctx, storage.deleteCollection(name(ctx)))),
    route('GET', '/collections/{name}/exists', async (ctx) =>
      sendResult(ctx, { exists: storage.hasCollection(name(ctx)) }),
    ),

    route('PUT', '/collections/{name}/index', async (ctx) => {
      const wait = queryBool(ctx.query, 'wait') ?? false;
      const { field, schema } = parseCreateIndex(await body(ctx));
      const operation_id = storage.createIndex(name(ctx), field, schema);
      sendResult(ctx, { operation_id, status: wait ? 'completed' : 'acknowledged' });
    }),

    // ---- points ----
    route('PUT', '/collections/{name}/points', async (ctx) => {
      const wait = queryBool(ctx.query, 'wait') ?? false;
      const request = await body(ctx);
      const points = parseUpsert(request, storage.collection(name(ctx)).config);
      const operation_id = storage.upsert(name(ctx), points);
      sendResult(ctx, { operation_id, status: wait ? 'completed' : 'acknowledged' });
    }),
    route('POST', '/collections/{name}/points', async (ctx) => {
      const request = await body(ctx);
      const ids = parseIdList(request.ids, 'ids');
      const [withPayload, withVector] = [parseWithPayload(request.with_payload), parseWithVector(request.with_vector)];
      const points = storage.collection(name(ctx)).points;
      // Request order, each id once, missing ids skipped (lib/collection/src/collection/point_ops.rs).
      const keys = [...new Set(ids.map(pointKey))];
      const found = keys.flatMap((k) => points.get(k) ?? []);
      sendResult(ctx, found.map((p) => toRecord(p, withPayload, withVector)));
    }),
    route('GET', '/collections/{name}/points/{id}', async (ctx) => {
      const raw = ctx.params[1] ?? '';
      const id = parsePointId(/^\d+$/.test(raw) ? Number(raw) : raw);
      const point = storage.collection(name(ctx)).points.get(pointKey(id));
      if (!point) throw notFound(`No point with id ${id} found`);
      sendResult(ctx, toRecord(point, parseWithPayload(true), parseWithVector(true)));
    }),
    route('POST', '/collections/{name}/points/delete', async (ctx) => {
      const wait = queryBool(ctx.query, 'wait') ?? false;
      const request = await body(ctx);
      if ('filter' in request && !('points' in request)) throw notImplemented('deleting points by filter');
      const ids = parseIdList(request.points, 'points');
      const operation_id = storage.deletePoints(name(ctx), ids);
      sendResult(ctx, { operation_id, status: wait ? 'completed' : 'acknowledged' });
    }),
    route('POST', '/collections/{name}/points/count', async (ctx) => {
      const request = await body(ctx);
      if (request.filter !== undefined && request.filter !== null) throw notImplemented('count with a filter');
      sendResult(ctx, { count: storage.collection(name(ctx)).points.size });
    }),
    route('POST', '/collections/{name}/points/scroll', async (ctx) => {
      const request = await body(ctx);
      for (const field of ['filter', 'order_by'] as const) {
        if (request[field] !== undefined && request[field] !== null) throw notImplemented(`scroll with \`${field}\``);
      }
      const limit = request.limit ?? 10;
      if (typeof limit !== 'number' || !Number.isInteger(limit) || limit < 0) throw formatError('limit: expected usize');
      if (limit === 0) throw validationError('JSON body', 'limit: value 0 invalid, must be 1 or larger');
      const [withPayload, withVector] = [parseWithPayload(request.with_payload), parseWithVector(request.with_vector)];
      const sorted = storage.sortedPoints(name(ctx));
      // `offset` is inclusive: the first point returned has id >= offset.
      const offset = request.offset === undefined || request.offset === null ? undefined : parsePointId(request.offset);
      const from = offset === undefined ? 0 : sorted.findIndex((p) => comparePointIds(p.id, offset) >= 0);
      const start = from === -1 ? sorted.length : from;
      sendResult(ctx, {
        points: sorted.slice(start, start + limit).map((p) => toRecord(p, withPayload, withVector)),
        next_page_offset: sorted[start + limit]?.id ?? null,
      });
    }),

    // ---- aliases ----
    route('GET', '/aliases', async (ctx) => sendResult(ctx, { aliases: storage.aliasList() })),
    route('GET', '/collections/{name}/aliases', async (ctx) => sendResult(ctx, { aliases: storage.aliasList(name(ctx)) })),
    route('POST', '/collections/aliases', async (ctx) => {
      storage.updateAliases((await body(ctx)).actions);
      sendResult(ctx, true);
    }),

    // ---- snapshots ----
    route('GET', '/collections/{name}/snapshots', async (ctx) => sendResult(ctx, storage.listSnapshots(name(ctx)))),
    route('POST', '/collections/{name}/snapshots', async (ctx) =>
      timeOrAccept(ctx, queryBool(ctx.query, 'wait') ?? true, () => storage.createSnapshot(name(ctx))),
    ),
    route('GET', '/collections/{name}/snapshots/{snapshot}', async (ctx) =>
      sendSnapshotFile(ctx, storage.snapshotFile(name(ctx), ctx.params[1] ?? '')),
    ),
    route('DELETE', '/collections/{name}/snapshots/{snapshot}', async (ctx) =>
      timeOrAccept(ctx, queryBool(ctx.query, 'wait') ?? true, async () => {
        storage.deleteSnapshot(name(ctx), ctx.params[1] ?? '');
        return true;
      }),
    ),
    route('POST', '/collections/{name}/snapshots/upload', async (ctx) => {
      const wait = queryBool(ctx.query, 'wait') ?? true;
      parsePriority(ctx.query.get('priority') ?? undefined, 'query parameters'); // single node: validated, no effect
      const checksum = parseChecksum(ctx.query.get('checksum') ?? undefined, 'query parameters');
      checkNewCollectionName(name(ctx));
      const tmp = storage.tmpFile('.upload');
      const upload = await receiveUpload(ctx.req, 'snapshot', tmp);
      // Checked before the file is kept or the collection touched (src/actix/api/snapshot_api.rs).
      if (checksum && !hashesEqual(upload.sha256, checksum)) {
        fs.rmSync(tmp, { force: true });
        throw new ApiError(400, `Checksum mismatch: expected ${upload.sha256}, actual ${checksum}`);
      }
      if (storage.takeUploadFailure('received')) {
        fs.rmSync(tmp, { force: true });
        throw new ApiError(500, 'Service internal error: stand-in: upload refused by a test (failNextUploads)');
      }
      await timeOrAccept(ctx, wait, async () => {
        const file = storage.keepUploadedSnapshot(name(ctx), tmp, upload.filename);
        await storage.recoverFromSnapshot(name(ctx), file, storage.takeUploadFailure('created'));
        return true;
      });
    }),
    route('PUT', '/collections/{name}/snapshots/recover', async (ctx) => {
      const wait = queryBool(ctx.query, 'wait') ?? true;
      const request = await body(ctx);
      if (typeof request.location !== 'string') throw formatError('missing field `location`');
      let location: URL;
      try {
        location = new URL(request.location);
      } catch {
        throw formatError(`location: relative URL without a base: ${JSON.stringify(request.location)}`);
      }
      parsePriority(request.priority, 'JSON body');
      const checksum = parseChecksum(request.checksum, 'JSON body');
      const apiKey = typeof request.api_key === 'string' ? request.api_key : undefined;
      checkNewCollectionName(name(ctx));

      await timeOrAccept(ctx, wait, async () => {
        let file: string;
        let temporary = false;
        if (location.protocol === 'file:') {
          try {
            file = fileURLToPath(location);
          } catch {
            throw badRequest('Invalid snapshot URI, file path must be absolute or on localhost');
          }
          if (!fs.existsSync(file)) throw badRequest(`Snapshot file ${JSON.stringify(file)} does not exist`);
          if (!storage.isInsideSnapshots(file)) {
            const root = fs.realpathSync(storage.snapshotsRoot);
            throw forbidden(`Snapshot file path must be inside the snapshots directory ${JSON.stringify(root)}`);
          }
        } else if (location.protocol === 'http:' || location.protocol === 'https:') {
          file = storage.tmpFile('.download');
          temporary = true;
        } else {
          throw badRequest(`URL ${location.href} with scheme ${location.protocol.slice(0, -1)} is not supported`);
        }
        try {
          if (temporary) await download(location, file, apiKey);
          if (checksum) {
            const actual = await sha256File(file);
            if (!hashesEqual(actual, checksum)) {
              throw wrongInput(`Snapshot checksum mismatch: expected ${checksum}, got ${actual}`);
            }
          }
          await storage.recoverFromSnapshot(name(ctx), file);
          return true;
        } finally {
          if (temporary) fs.rmSync(file, { force: true });
        }
      });
    }),
  ];
}
