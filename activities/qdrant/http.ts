/**
 * Raw HTTP to Qdrant's REST API with `node:http`/`node:https`: small JSON calls, streamed snapshot
 * downloads and a hand-written streaming multipart upload (the JS client corrupts binary downloads and
 * cannot upload; `fetch` with FormData buffers the whole file, and undici's default 300 s
 * headers/body timeouts would cut a long snapshot creation or recovery).
 *
 * No request has a total timeout: calls that wait on server work (snapshot creation, recovery) may
 * take hours and the activity's heartbeats keep running meanwhile. Other calls have an idle timeout on
 * the socket so a dead connection cannot hang an activity forever. Every request takes the
 * activity's cancellation signal.
 *
 * The API key travels in the `api-key` header only; no message built here contains it, and text from
 * the server passes through `scrub` before it reaches one.
 */
import { randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import { pipeline } from 'node:stream/promises';

/** Idle time allowed on the socket of an ordinary JSON call. */
const JSON_IDLE_MS = 120_000;
/** Idle time allowed while a download's or upload's bytes flow. */
const TRANSFER_IDLE_MS = 300_000;
const MAX_JSON_RESPONSE = 64 * 1024 * 1024;

/** An HTTP-level failure; 401/403 become ConfigError (a wrong or too weak key does not heal by retrying). */
export class QdrantHttpError extends Error {
  override name = 'QdrantHttpError';
  constructor(
    message: string,
    readonly status?: number,
  ) {
    super(message);
    if (status === 401 || status === 403) this.name = 'ConfigError';
  }
}

export interface RequestOptions {
  query?: Record<string, string>;
  body?: unknown;
  signal?: AbortSignal;
  /** Socket idle timeout in ms; 0 for none (calls that wait on long server work). */
  idleMs?: number;
}

export interface UploadOptions {
  query: Record<string, string>;
  field: string;
  fileName: string;
  filePath: string;
  size: number;
  signal?: AbortSignal;
  onBytes?: (bytes: number) => void;
}

export class QdrantHttp {
  /** host:port of the server: what messages name, never the key or the URL's credentials. */
  readonly where: string;
  private readonly base: URL;

  constructor(
    url: string,
    private readonly apiKey?: string,
  ) {
    this.base = new URL(url);
    const port = this.base.port || (this.base.protocol === 'https:' ? '443' : '80');
    this.where = `${this.base.hostname}:${port}`;
  }

  /** A JSON call; returns Qdrant's `result`, or the whole body when it has no envelope (e.g. `GET /`). */
  async json<T>(method: string, path: string, what: string, options: RequestOptions = {}): Promise<T> {
    const body = options.body === undefined ? undefined : Buffer.from(JSON.stringify(options.body));
    const response = await this.send(method, path, what, {
      ...options,
      headers: body ? { 'content-type': 'application/json', 'content-length': String(body.length) } : {},
      write: async (request) => {
        request.end(body);
      },
    });
    const text = await this.readAnswer(response, what);
    if (response.statusCode !== 200) throw this.failure(what, response.statusCode, text);
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      throw new QdrantHttpError(`Qdrant at ${this.where}: ${what}: the answer is not JSON`);
    }
    if (parsed !== null && typeof parsed === 'object' && 'result' in parsed) return (parsed as { result: T }).result;
    return parsed as T;
  }

  /** Starts a download; resolves with the response once its status is 200 (the body is the caller's to consume). */
  async download(path: string, what: string, signal?: AbortSignal): Promise<http.IncomingMessage> {
    const response = await this.send('GET', path, what, {
      signal,
      idleMs: TRANSFER_IDLE_MS,
      write: async (request) => {
        request.end();
      },
    });
    if (response.statusCode !== 200) throw this.failure(what, response.statusCode, await readText(response, 64 * 1024));
    return response;
  }

  /**
   * POSTs one file as `multipart/form-data` (one part, `field`, with a file name), streamed from disk
   * with an exact Content-Length, and returns Qdrant's `result`. Waits for the answer without a
   * timeout: Qdrant answers a recovery with `wait=true` only once it is done.
   */
  async upload(path: string, what: string, options: UploadOptions): Promise<unknown> {
    const boundary = `----scholaria-backup-${randomBytes(16).toString('hex')}`;
    const head = Buffer.from(
      `--${boundary}\r\n` +
        `Content-Disposition: form-data; name="${options.field}"; filename="${options.fileName}"\r\n` +
        'Content-Type: application/octet-stream\r\n\r\n',
    );
    const tail = Buffer.from(`\r\n--${boundary}--\r\n`);
    const response = await this.send('POST', path, what, {
      query: options.query,
      signal: options.signal,
      idleMs: 0,
      headers: {
        'content-type': `multipart/form-data; boundary=${boundary}`,
        'content-length': String(head.length + options.size + tail.length),
      },
      write: async (request) => {
        let sent = 0;
        const size = options.size;
        const filePath = options.filePath;
        async function* body(): AsyncGenerator<Buffer> {
          yield head;
          for await (const chunk of createReadStream(filePath, { highWaterMark: 1 << 20 }) as AsyncIterable<Buffer>) {
            sent += chunk.length;
            if (sent > size) throw new Error(`${filePath} grew while it was uploaded`);
            options.onBytes?.(sent);
            yield chunk;
          }
          if (sent !== size) throw new Error(`${filePath} has ${sent} bytes, ${size} expected`);
          yield tail;
        }
        // A socket idle timeout while we send (a server that stopped reading); none while it works.
        request.setTimeout(TRANSFER_IDLE_MS, () => request.destroy(idleError(TRANSFER_IDLE_MS)));
        await pipeline(body, request);
        request.setTimeout(0);
      },
    });
    const text = await this.readAnswer(response, what);
    if (response.statusCode !== 200) throw this.failure(what, response.statusCode, text);
    try {
      return (JSON.parse(text) as { result?: unknown }).result;
    } catch {
      throw new QdrantHttpError(`Qdrant at ${this.where}: ${what}: the answer is not JSON`);
    }
  }

  private async readAnswer(response: http.IncomingMessage, what: string): Promise<string> {
    try {
      return await readText(response, MAX_JSON_RESPONSE);
    } catch (error) {
      throw error instanceof QdrantHttpError ? error : this.networkFailure(what, error);
    }
  }

  /** Removes the API key from any text that is about to become part of a message. */
  scrub(text: string): string {
    return this.apiKey && this.apiKey.length > 0 ? text.split(this.apiKey).join('***') : text;
  }

  private url(path: string, query?: Record<string, string>): URL {
    const url = new URL(this.base.href);
    url.pathname = `${this.base.pathname.replace(/\/+$/, '')}${path}`;
    url.search = query ? new URLSearchParams(query).toString() : '';
    return url;
  }

  private failure(what: string, status: number | undefined, body: string): QdrantHttpError {
    let detail = body.trim();
    try {
      const parsed = JSON.parse(body) as { status?: { error?: unknown } | string };
      if (parsed.status && typeof parsed.status === 'object' && typeof parsed.status.error === 'string') {
        detail = parsed.status.error;
      }
    } catch {
      // a plain-text answer (401, proxies): used as it is
    }
    detail = this.scrub(detail.replace(/\s+/g, ' ')).slice(0, 500);
    const hint =
      status === 401
        ? '; check QDRANT_API_KEY'
        : status === 403
          ? '; the API key lacks a permission (snapshot recovery needs a full-access key)'
          : '';
    return new QdrantHttpError(`Qdrant at ${this.where}: ${what}: HTTP ${status ?? '?'}${detail ? ` ${detail}` : ''}${hint}`, status);
  }

  /** Sends one request; resolves with the response whatever its status. Network errors name the server, never the key. */
  private send(
    method: string,
    path: string,
    what: string,
    options: RequestOptions & { headers?: Record<string, string>; write: (request: http.ClientRequest) => Promise<void> },
  ): Promise<http.IncomingMessage> {
    const url = this.url(path, options.query);
    const transport = url.protocol === 'https:' ? https : http;
    const headers: Record<string, string> = { accept: 'application/json', ...options.headers };
    if (this.apiKey) headers['api-key'] = this.apiKey;
    return new Promise<http.IncomingMessage>((resolve, reject) => {
      let settled = false;
      const fail = (error: unknown): void => {
        if (settled) return;
        settled = true;
        reject(this.networkFailure(what, error));
      };
      const request = transport.request(url, { method, headers, ...(options.signal ? { signal: options.signal } : {}) });
      const idleMs = options.idleMs ?? JSON_IDLE_MS;
      if (idleMs > 0) {
        request.setTimeout(idleMs, () => request.destroy(idleError(idleMs)));
      }
      request.once('response', (response) => {
        if (settled) return void response.resume();
        settled = true;
        resolve(response);
      });
      request.on('error', fail);
      options.write(request).catch((error: unknown) => {
        // The server may have answered early (an auth or checksum error) and closed: that answer wins.
        setTimeout(() => {
          if (settled) return;
          fail(error);
          request.destroy();
        }, 200);
      });
    });
  }

  private networkFailure(what: string, error: unknown): Error {
    const err = error as NodeJS.ErrnoException;
    if (err?.name === 'AbortError') {
      return Object.assign(new Error(`Qdrant at ${this.where}: ${what}: cancelled`), { name: 'AbortError' });
    }
    const reason = err?.code ?? this.scrub(err?.message ?? String(error));
    return new QdrantHttpError(`Qdrant at ${this.where} is unreachable or closed the connection (${reason}) during: ${what}`);
  }
}

function idleError(ms: number): Error {
  return Object.assign(new Error(`no data for ${ms / 1000} s`), { code: 'ETIMEDOUT' });
}

async function readText(response: http.IncomingMessage, limit: number): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of response as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) {
      response.destroy();
      throw new QdrantHttpError(`an answer from Qdrant is larger than ${limit} bytes`);
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}
