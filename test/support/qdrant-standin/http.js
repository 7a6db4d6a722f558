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
exports.sendAccepted = exports.sendResult = void 0;
exports.route = route;
exports.sendJson = sendJson;
exports.sendText = sendText;
exports.readJsonBody = readJsonBody;
exports.queryBool = queryBool;
exports.createServer = createServer;
/**
 * HTTP plumbing: routing, API-key check, Qdrant's JSON envelope, body and query parsing.
 * Endpoint logic lives in routes.ts.
 */
const http = __importStar(require("node:http"));
const errors_1 = require("./errors");
/** `template` uses `{param}` for one path segment, e.g. `/collections/{name}/points`. */
function route(method, template, handler) {
    const source = template.replace(/[.*+?^$()|[\]\\]/g, '\\$&').replace(/\{[^}]+\}/g, '([^/]+)');
    return { method, pattern: new RegExp(`^${source}$`), handler };
}
const STANDIN_HEADER = 'x-qdrant-standin';
// Qdrant's REST API leaves these open even when an API key is configured (src/actix/mod.rs).
const isWhitelisted = (p) => p === '/' || p === '/healthz' || p.startsWith('/readyz') || p.startsWith('/livez');
const MAX_JSON_BYTES = 32 * 1024 * 1024; // service.max_request_size_mb default
const elapsed = (ctx) => (performance.now() - ctx.startedAt) / 1000;
function sendJson(res, status, body) {
    const text = JSON.stringify(body);
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
    res.end(text);
}
function sendText(res, status, text) {
    res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(text) });
    res.end(text);
}
const sendResult = (ctx, result) => sendJson(ctx.res, 200, { result, status: 'ok', time: elapsed(ctx) });
exports.sendResult = sendResult;
/** What Qdrant answers for `wait=false`: the work continues in the background. */
const sendAccepted = (ctx) => sendJson(ctx.res, 202, { status: 'accepted', time: elapsed(ctx) });
exports.sendAccepted = sendAccepted;
function sendError(ctx, err) {
    if (ctx.res.headersSent) {
        ctx.res.destroy(); // failed mid-stream (e.g. a download): a cut connection is the honest signal
        return;
    }
    const apiError = err instanceof errors_1.ApiError ? err : new errors_1.ApiError(500, `Service internal error: ${err?.message ?? String(err)}`);
    sendJson(ctx.res, apiError.httpStatus, { status: { error: apiError.message }, time: elapsed(ctx) });
}
/** Reads a JSON body the way actix's Json extractor does: JSON content type required, size limited. */
async function readJsonBody(req) {
    const type = req.headers['content-type'] ?? '';
    if (!/^application\/([\w.+-]*\+)?json\b/i.test(type))
        throw new errors_1.ApiError(400, 'Content type error');
    const chunks = [];
    let size = 0;
    for await (const chunk of req) {
        size += chunk.length;
        if (size > MAX_JSON_BYTES) {
            throw new errors_1.ApiError(400, `JSON payload (${size} bytes) is larger than allowed (limit: ${MAX_JSON_BYTES} bytes).`);
        }
        chunks.push(chunk);
    }
    const text = Buffer.concat(chunks).toString('utf8');
    if (!text.trim())
        throw (0, errors_1.formatError)('EOF while parsing a value at line 1 column 0');
    try {
        return JSON.parse(text);
    }
    catch (err) {
        throw (0, errors_1.formatError)(err.message);
    }
}
/** serde_urlencoded booleans: only `true`/`false`. */
function queryBool(query, name) {
    const value = query.get(name);
    if (value === null)
        return undefined;
    if (value === 'true' || value === 'false')
        return value === 'true';
    throw new errors_1.ApiError(400, `Deserialize error in query parameters: ${name}: provided string was not \`true\` or \`false\``);
}
function createServer(routes, apiKey) {
    const pending = new Set();
    const server = http.createServer((req, res) => {
        res.setHeader(STANDIN_HEADER, 'true');
        const url = new URL(req.url ?? '/', 'http://stand-in');
        // actix NormalizePath::trim: collapse repeated slashes, drop the trailing one.
        const pathname = url.pathname.replace(/\/{2,}/g, '/').replace(/(.)\/$/, '$1');
        const ctx = {
            req,
            res,
            params: [],
            query: url.searchParams,
            startedAt: performance.now(),
            background(task) {
                const tracked = task.catch(() => undefined).finally(() => pending.delete(tracked));
                pending.add(tracked);
            },
        };
        if (apiKey !== undefined && !isWhitelisted(pathname)) {
            const bearer = /^Bearer (.*)$/.exec(req.headers.authorization ?? '')?.[1];
            const key = req.headers['api-key'] ?? bearer;
            // Qdrant answers auth failures with a plain-text 401, not the JSON envelope (src/actix/auth.rs).
            if (key === undefined)
                return sendText(res, 401, 'Must provide an API key or an Authorization bearer token');
            if (key !== apiKey)
                return sendText(res, 401, 'Invalid API key or JWT');
        }
        for (const r of routes) {
            const match = r.method === req.method ? r.pattern.exec(pathname) : null;
            if (!match)
                continue;
            try {
                ctx.params = match.slice(1).map((p) => decodeURIComponent(p));
            }
            catch {
                return sendError(ctx, new errors_1.ApiError(400, `Invalid percent-encoding in path ${pathname}`));
            }
            r.handler(ctx).catch((err) => sendError(ctx, err));
            return;
        }
        sendError(ctx, new errors_1.ApiError(404, `stand-in: endpoint not implemented: ${req.method ?? '?'} ${pathname}`));
    });
    const drain = async () => {
        while (pending.size > 0)
            await Promise.all(pending);
    };
    return { server, drain };
}
