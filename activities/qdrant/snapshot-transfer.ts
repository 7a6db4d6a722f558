/**
 * The two Qdrant calls that stay raw HTTP (`node:http`/`node:https`), everything else goes through
 * `@qdrant/js-client-rest` (connection.ts): the streamed snapshot download and the streaming
 * multipart upload. The client cannot do either: it reads every answer with `response.text()` (a
 * binary snapshot is corrupted by UTF-8 decoding and buffered whole in memory) and has no upload
 * (its low-level API copies the payload with Object.assign, which turns a FormData into `{}`);
 * `fetch` with FormData would buffer the whole file too.
 *
 * Neither request has a total timeout (a recovery with `wait=true` answers when it is done, hours
 * later for a large collection; the activity heartbeats meanwhile): bytes must keep flowing, and the
 * activity's cancellation signal aborts them.
 *
 * The API key travels in the `api-key` header only; no message built here contains it, and text from
 * the server passes through `scrub` before it reaches one.
 */
import { randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import { pipeline } from 'node:stream/promises';

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

interface RequestOptions {
  query?: Record<string, string>;
  signal?: AbortSignal | undefined;
  /** Socket idle timeout in ms; 0 for none (while the server works on a recovery). */
  idleMs: number;
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

export class SnapshotTransfer {
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

  /** The one-line error of an answer that is not 200; `body` is its text or its parsed JSON. */
  failure(what: string, status: number | undefined, body: unknown): QdrantHttpError {
    let parsed = body;
    if (typeof body === 'string') {
      try {
        parsed = JSON.parse(body);
      } catch {
        // a plain-text answer (401, proxies): used as it is
      }
    }
    const error = isObject(parsed) && isObject(parsed.status) ? parsed.status.error : undefined;
    let detail = typeof error === 'string' ? error : typeof body === 'string' ? body.trim() : JSON.stringify(body ?? '');
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
      const idleMs = options.idleMs;
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

  /** The one-line error of a request that got no answer (or was cancelled): names the server, never the key. */
  networkFailure(what: string, error: unknown): Error {
    const err = error as NodeJS.ErrnoException;
    if (err?.name === 'AbortError') {
      return Object.assign(new Error(`Qdrant at ${this.where}: ${what}: cancelled`), { name: 'AbortError' });
    }
    // fetch (the JSON client) reports network errors as `fetch failed` with the socket's error as cause.
    const cause = err?.cause as NodeJS.ErrnoException | undefined;
    const reason = err?.code ?? cause?.code ?? this.scrub(err?.message ?? String(error));
    return new QdrantHttpError(`Qdrant at ${this.where} is unreachable or closed the connection (${reason}) during: ${what}`);
  }
}

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

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
