/**
 * HTTP plumbing: routing, API-key check, Qdrant's JSON envelope, body and query parsing.
 * Endpoint logic lives in routes.ts.
 */
import * as http from 'node:http';
import type { QdrantContract } from '../qdrant-openapi/contract';
import { ApiError, formatError } from './errors';

export interface RequestContext {
  req: http.IncomingMessage;
  res: http.ServerResponse;
  /** Decoded path parameters, in template order. */
  params: string[];
  query: URLSearchParams;
  startedAt: number;
  /** Runs work after a `wait=false` request was answered with 202; stop() waits for it. */
  background(task: Promise<unknown>): void;
  /** Holds a JSON request body against Qdrant's OpenAPI schema. */
  checkBody(body: unknown): void;
  /** Holds a JSON answer against Qdrant's OpenAPI schema. */
  checkAnswer(status: number, body: unknown): void;
}
export type Handler = (ctx: RequestContext) => Promise<void>;
export interface Route {
  method: string;
  pattern: RegExp;
  handler: Handler;
}

/** `template` uses `{param}` for one path segment, e.g. `/collections/{name}/points`. */
export function route(method: string, template: string, handler: Handler): Route {
  const source = template.replace(/[.*+?^$()|[\]\\]/g, '\\$&').replace(/\{[^}]+\}/g, '([^/]+)');
  return { method, pattern: new RegExp(`^${source}$`), handler };
}

const STANDIN_HEADER = 'x-qdrant-standin';
// Qdrant's REST API leaves these open even when an API key is configured (src/actix/mod.rs).
const isWhitelisted = (p: string): boolean =>
  p === '/' || p === '/healthz' || p.startsWith('/readyz') || p.startsWith('/livez');
const MAX_JSON_BYTES = 32 * 1024 * 1024; // service.max_request_size_mb default

const elapsed = (ctx: RequestContext): number => (performance.now() - ctx.startedAt) / 1000;

export function sendJson(res: http.ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

export function sendText(res: http.ServerResponse, status: number, text: string): void {
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

/** A JSON answer, held against the schema first. */
export function answer(ctx: RequestContext, status: number, body: unknown): void {
  ctx.checkAnswer(status, body);
  sendJson(ctx.res, status, body);
}

export const sendResult = (ctx: RequestContext, result: unknown): void => answer(ctx, 200, { result, status: 'ok', time: elapsed(ctx) });

/** What Qdrant answers for `wait=false`: the work continues in the background. */
export const sendAccepted = (ctx: RequestContext): void => answer(ctx, 202, { status: 'accepted', time: elapsed(ctx) });

function sendError(ctx: RequestContext, err: unknown): void {
  if (ctx.res.headersSent) {
    ctx.res.destroy(); // failed mid-stream (e.g. a download): a cut connection is the honest signal
    return;
  }
  const apiError =
    err instanceof ApiError ? err : new ApiError(500, `Service internal error: ${(err as Error)?.message ?? String(err)}`);
  answer(ctx, apiError.httpStatus, { status: { error: apiError.message }, time: elapsed(ctx) });
}

/** Reads a JSON body the way actix's Json extractor does: JSON content type required, size limited. */
export async function readJsonBody(req: http.IncomingMessage): Promise<unknown> {
  const type = req.headers['content-type'] ?? '';
  if (!/^application\/([\w.+-]*\+)?json\b/i.test(type)) throw new ApiError(400, 'Content type error');
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_JSON_BYTES) {
      throw new ApiError(400, `JSON payload (${size} bytes) is larger than allowed (limit: ${MAX_JSON_BYTES} bytes).`);
    }
    chunks.push(chunk);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  if (!text.trim()) throw formatError('EOF while parsing a value at line 1 column 0');
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw formatError((err as Error).message);
  }
}

/** serde_urlencoded booleans: only `true`/`false`. */
export function queryBool(query: URLSearchParams, name: string): boolean | undefined {
  const value = query.get(name);
  if (value === null) return undefined;
  if (value === 'true' || value === 'false') return value === 'true';
  throw new ApiError(400, `Deserialize error in query parameters: ${name}: provided string was not \`true\` or \`false\``);
}

/** Reads a read-only key may make (Qdrant's `read_only_api_key`): every GET, and the POSTs that only read points. */
const isRead = (method: string | undefined, p: string): boolean =>
  method === 'GET' || (method === 'POST' && /^\/collections\/[^/]+\/points(\/count|\/scroll)?$/.test(p));

export function createServer(
  routes: Route[],
  keys: { apiKey?: string | undefined; readOnlyApiKey?: string | undefined },
  contract: QdrantContract,
): { server: http.Server; drain(): Promise<void> } {
  const { apiKey, readOnlyApiKey } = keys;
  const pending = new Set<Promise<unknown>>();

  const server = http.createServer((req, res) => {
    res.setHeader(STANDIN_HEADER, 'true');
    const url = new URL(req.url ?? '/', 'http://stand-in');
    // actix NormalizePath::trim: collapse repeated slashes, drop the trailing one.
    const pathname = url.pathname.replace(/\/{2,}/g, '/').replace(/(.)\/$/, '$1');
    const ctx: RequestContext = {
      req,
      res,
      params: [],
      query: url.searchParams,
      startedAt: performance.now(),
      background(task) {
        const tracked = task.catch(() => undefined).finally(() => pending.delete(tracked));
        pending.add(tracked);
      },
      checkBody: (body) => contract.checkRequestBody(req.method ?? '', pathname, body),
      // The stand-in's own answers (unimplemented endpoints) are not Qdrant's and are not checked.
      checkAnswer: (status, body) => {
        if (routed) contract.checkResponse(req.method ?? '', pathname, status, body);
      },
    };
    let routed = false;

    if (apiKey !== undefined && !isWhitelisted(pathname)) {
      const bearer = /^Bearer (.*)$/.exec(req.headers.authorization ?? '')?.[1];
      const key = req.headers['api-key'] ?? bearer;
      // Qdrant answers auth failures with a plain-text 401, not the JSON envelope (src/actix/auth.rs).
      if (key === undefined) return sendText(res, 401, 'Must provide an API key or an Authorization bearer token');
      if (key !== apiKey && (readOnlyApiKey === undefined || key !== readOnlyApiKey)) return sendText(res, 401, 'Invalid API key or JWT');
      if (key !== apiKey && !isRead(req.method, pathname)) {
        return sendError(ctx, new ApiError(403, 'Forbidden: Global access is required (the key is read-only)'));
      }
    }

    for (const r of routes) {
      const match = r.method === req.method ? r.pattern.exec(pathname) : null;
      if (!match) continue;
      try {
        ctx.params = match.slice(1).map((p) => decodeURIComponent(p));
      } catch {
        return sendError(ctx, new ApiError(400, `Invalid percent-encoding in path ${pathname}`));
      }
      routed = true;
      contract.checkRequest(req.method ?? '', pathname, url.searchParams);
      r.handler(ctx).catch((err: unknown) => sendError(ctx, err));
      return;
    }
    sendError(ctx, new ApiError(404, `stand-in: endpoint not implemented: ${req.method ?? '?'} ${pathname}`));
  });

  const drain = async (): Promise<void> => {
    while (pending.size > 0) await Promise.all(pending);
  };
  return { server, drain };
}
