/**
 * Takes a point-in-time RDB from a Redis server over the replication protocol, as `redis-cli --rdb`
 * does (`sendReplconf`, `sendSync`, `getRDB` in `src/redis-cli.c`). A raw socket is needed: the
 * keep-alive newlines and the EOF-marked body are not RESP, and ioredis's parser rejects them.
 */
import { isIP, Socket, connect as connectSocket, type OnReadOpts } from 'node:net';
import { connect as connectTls, type ConnectionOptions } from 'node:tls';
import type { ChunkConsumer } from '../file-chunks';

export class ReplicationRefusedError extends Error {
  override name = 'ReplicationRefusedError';
}

export interface RdbStreamOptions {
  url: string;
  /**
   * Receives the RDB's bytes in order. The chunk is lent (see ChunkConsumer): the connection reads the
   * next one into the same buffer once the returned promise settles; a rejection ends the transfer.
   */
  receive: ChunkConsumer;
  signal?: AbortSignal;
  /** Called with the running total of RDB bytes handed to `receive`. */
  onProgress?: (bytes: number) => void;
  /** Limit for connecting and for the AUTH/REPLCONF replies; the RDB itself may take any time. */
  connectTimeoutMs?: number;
}

export interface RdbStreamResult {
  bytes: number;
  /** 'disk': the server saved to its disk first and sent `$<len>`; 'diskless': it streamed with an EOF marker. */
  transfer: 'disk' | 'diskless';
}

type Endpoint =
  | { kind: 'tcp'; host: string; port: number; tls: boolean; username?: string; password?: string; display: string }
  | { kind: 'unix'; path: string; display: string };

const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;
const EOF_MARK_BYTES = 40;
/** How much of the RDB is read at a time, into one buffer per transfer. */
const READ_BYTES = 1 << 18;
/** A reply line longer than this before the RDB header means the peer is not speaking RESP. */
const MAX_LINE_BYTES = 4096;

export function streamRdbFromServer(options: RdbStreamOptions): Promise<RdbStreamResult> {
  const endpoint = parseRedisUrl(options.url);
  return new Promise<RdbStreamResult>((resolve, reject) => {
    new RdbTransfer(endpoint, options, resolve, reject).start();
  });
}

/** Accepts `redis://[user[:password]@]host[:port][/db]`, `rediss://…` and `unix:/path/to.sock`. */
function parseRedisUrl(text: string): Endpoint {
  if (text.startsWith('unix:')) {
    const path = text.slice('unix:'.length).replace(/^\/\/(?=\/)/, '');
    if (!path.startsWith('/')) throw new Error(`invalid Redis URL: unix socket path must be absolute in ${text}`);
    return { kind: 'unix', path, display: `unix:${path}` };
  }
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    // The text may hold a password: do not echo it.
    throw new Error('invalid Redis URL: expected redis://[user[:password]@]host[:port][/db], rediss://… or unix:/path');
  }
  if (url.protocol !== 'redis:' && url.protocol !== 'rediss:') {
    throw new Error(`invalid Redis URL: unsupported scheme ${url.protocol} (use redis:, rediss: or unix:)`);
  }
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  if (!host) throw new Error('invalid Redis URL: no host');
  const port = url.port ? Number(url.port) : 6379;
  const username = url.username ? decodeURIComponent(url.username) : undefined;
  const password = url.password ? decodeURIComponent(url.password) : undefined;
  return {
    kind: 'tcp',
    host,
    port,
    tls: url.protocol === 'rediss:',
    ...(username !== undefined ? { username } : {}),
    ...(password !== undefined ? { password } : {}),
    display: `${url.protocol}//${url.host}`,
  };
}

/** RESP array encoding, so a password with spaces or quotes reaches the server intact. */
function encodeCommand(...parts: string[]): Buffer {
  const pieces = [`*${parts.length}\r\n`];
  for (const part of parts) pieces.push(`$${Buffer.byteLength(part)}\r\n${part}\r\n`);
  return Buffer.from(pieces.join(''));
}

function handshakeCommands(endpoint: Endpoint): Buffer[] {
  const commands: Buffer[] = [];
  if (endpoint.kind === 'tcp' && endpoint.password !== undefined) {
    commands.push(
      endpoint.username !== undefined
        ? encodeCommand('AUTH', endpoint.username, endpoint.password)
        : encodeCommand('AUTH', endpoint.password),
    );
  }
  // capa eof lets the server stream diskless; rdb-only (Redis >= 6.2) ends the connection after the
  // RDB and keeps the server from buffering the replication stream for us.
  commands.push(encodeCommand('REPLCONF', 'capa', 'eof'), encodeCommand('REPLCONF', 'rdb-only', '1'));
  return commands;
}

/** Permission or command-availability failures: what managed services and strict ACLs reply. */
function isRefusal(serverError: string): boolean {
  return /^NOPERM\b/.test(serverError) || /^ERR unknown command\b/i.test(serverError);
}

type Phase =
  | { name: 'handshake'; repliesLeft: number }
  | { name: 'header' }
  | { name: 'sized-body'; remaining: number; total: number }
  | { name: 'marked-body'; marker: Buffer; heldBack: Buffer }
  | { name: 'done' };

class RdbTransfer {
  private socket: Socket | undefined;
  private phase: Phase;
  private lineBuffer = Buffer.alloc(0);
  private bytes = 0;
  /** What `receive` is still doing with the chunk just read: the next read waits for it. */
  private receiving: Promise<void>[] = [];
  private transfer: RdbStreamResult['transfer'] | undefined;
  private settled = false;
  private connectTimer: NodeJS.Timeout | undefined;
  private readonly handshake: Buffer[];

  constructor(
    private readonly endpoint: Endpoint,
    private readonly options: RdbStreamOptions,
    private readonly resolve: (result: RdbStreamResult) => void,
    private readonly reject: (error: unknown) => void,
  ) {
    this.handshake = handshakeCommands(endpoint);
    this.phase = { name: 'handshake', repliesLeft: this.handshake.length };
  }

  start(): void {
    const { signal } = this.options;
    if (signal?.aborted) {
      this.reject(signal.reason);
      return;
    }
    signal?.addEventListener('abort', this.onAbort, { once: true });
    const endpoint = this.endpoint;
    const buffer = Buffer.allocUnsafe(READ_BYTES);
    const onread: OnReadOpts = { buffer, callback: (bytes: number) => this.onRead(buffer.subarray(0, bytes)) };
    // tls.connect takes onread as net.connect does (Node's documentation); its type leaves it out.
    const tlsOptions = (host: string, port: number): ConnectionOptions & { onread: OnReadOpts } => ({
      host,
      port,
      onread,
      ...(isIP(host) ? {} : { servername: host }),
    });
    const socket =
      endpoint.kind === 'unix'
        ? connectSocket({ path: endpoint.path, onread })
        : endpoint.tls
          ? connectTls(tlsOptions(endpoint.host, endpoint.port))
          : connectSocket({ host: endpoint.host, port: endpoint.port, onread });
    this.socket = socket;
    const timeoutMs = this.options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
    this.connectTimer = setTimeout(
      () => this.fail(new Error(`Redis at ${endpoint.display} did not complete the handshake within ${timeoutMs} ms`)),
      timeoutMs,
    );
    // Socket and TLS messages name the address, never the credentials.
    socket.on('error', (error: Error) => this.fail(new Error(`Redis at ${endpoint.display}: ${error.message}`)));
    socket.on('close', () => this.onClose());
    // Sockets queue writes until connected, so the handshake can be sent at once, pipelined.
    for (const command of this.handshake) socket.write(command);
  }

  private readonly onAbort = (): void => {
    this.fail(this.options.signal?.reason);
  };

  /** Takes one read; false pauses the socket until `receive` is done with the chunk. */
  private onRead(chunk: Buffer): boolean {
    try {
      this.onData(chunk);
    } catch (error) {
      this.fail(error);
      return false;
    }
    const receiving = this.receiving;
    this.receiving = [];
    if (receiving.length === 0) {
      this.resolveIfReceived();
      return true;
    }
    Promise.all(receiving).then(
      () => {
        this.resolveIfReceived();
        if (!this.settled) this.socket?.resume();
      },
      (error: unknown) => this.fail(error),
    );
    return false;
  }

  private onData(chunk: Buffer): void {
    let rest: Buffer | undefined = chunk;
    while (rest && rest.length > 0 && !this.settled) {
      switch (this.phase.name) {
        case 'handshake':
        case 'header':
          rest = this.consumeLines(rest);
          break;
        case 'sized-body':
          this.consumeSizedBody(rest, this.phase);
          rest = undefined;
          break;
        case 'marked-body':
          this.consumeMarkedBody(rest, this.phase);
          rest = undefined;
          break;
        case 'done':
          // Nothing follows an rdb-only transfer that matters; the socket is already being torn down.
          rest = undefined;
          break;
      }
    }
  }

  /** Handles reply lines; returns the bytes after the RDB header once it has been seen. */
  private consumeLines(chunk: Buffer): Buffer | undefined {
    let buffer = this.lineBuffer.length > 0 ? Buffer.concat([this.lineBuffer, chunk]) : chunk;
    for (;;) {
      const newline = buffer.indexOf(0x0a);
      if (newline < 0) {
        if (buffer.length > MAX_LINE_BYTES) {
          this.fail(new Error(`Redis at ${this.endpoint.display} sent an over-long reply line; is it a Redis server?`));
          return undefined;
        }
        this.lineBuffer = Buffer.from(buffer);
        return undefined;
      }
      const line = buffer.toString('latin1', 0, newline).replace(/\r$/, '');
      buffer = buffer.subarray(newline + 1);
      this.lineBuffer = Buffer.alloc(0);
      if (this.handleLine(line)) return buffer;
      if (this.settled) return undefined;
    }
  }

  /** Returns true when `line` was the RDB header, so what follows is body. */
  private handleLine(line: string): boolean {
    if (line.startsWith('-')) {
      this.failWithServerError(line.slice(1));
      return false;
    }
    if (this.phase.name === 'handshake') {
      if (line === '') return false;
      if (!line.startsWith('+')) {
        this.fail(new Error(`Redis at ${this.endpoint.display} sent an unexpected reply during the handshake: ${this.redact(line)}`));
        return false;
      }
      this.phase.repliesLeft -= 1;
      if (this.phase.repliesLeft === 0) {
        clearTimeout(this.connectTimer);
        this.phase = { name: 'header' };
        this.socket?.write('SYNC\r\n');
      }
      return false;
    }
    // The server sends bare newlines while it forks and serialises: keep-alives, not replies.
    if (line === '') return false;
    const marked = /^\$EOF:(.+)$/s.exec(line);
    if (marked && Buffer.byteLength(marked[1]!, 'latin1') === EOF_MARK_BYTES) {
      this.transfer = 'diskless';
      this.phase = { name: 'marked-body', marker: Buffer.from(marked[1]!, 'latin1'), heldBack: Buffer.alloc(0) };
      return true;
    }
    const sized = /^\$(\d+)$/.exec(line);
    if (sized) {
      const total = Number(sized[1]);
      this.transfer = 'disk';
      this.phase = { name: 'sized-body', remaining: total, total };
      if (total === 0) this.finish();
      return true;
    }
    this.fail(new Error(`Redis at ${this.endpoint.display} sent an unexpected reply to SYNC: ${this.redact(line)}`));
    return false;
  }

  private consumeSizedBody(chunk: Buffer, phase: Extract<Phase, { name: 'sized-body' }>): void {
    const body = chunk.length > phase.remaining ? chunk.subarray(0, phase.remaining) : chunk;
    phase.remaining -= body.length;
    this.deliver(body);
    if (phase.remaining === 0) this.finish();
  }

  /**
   * The body ends with the 40-byte marker from the header, so the newest 40 bytes are held back
   * until more data proves they are RDB, or they turn out to be the marker.
   */
  private consumeMarkedBody(chunk: Buffer, phase: Extract<Phase, { name: 'marked-body' }>): void {
    const available = phase.heldBack.length + chunk.length;
    const endsWithMarker =
      available >= EOF_MARK_BYTES &&
      (chunk.length >= EOF_MARK_BYTES
        ? chunk.subarray(chunk.length - EOF_MARK_BYTES).equals(phase.marker)
        : Buffer.concat([phase.heldBack, chunk]).subarray(available - EOF_MARK_BYTES).equals(phase.marker));
    const notReleasable = endsWithMarker ? EOF_MARK_BYTES : Math.min(EOF_MARK_BYTES, available);
    const releasable = available - notReleasable;
    const fromHeld = Math.min(releasable, phase.heldBack.length);
    const fromChunk = releasable - fromHeld;
    if (fromHeld > 0) this.deliver(phase.heldBack.subarray(0, fromHeld));
    if (fromChunk > 0) this.deliver(chunk.subarray(0, fromChunk));
    if (endsWithMarker) {
      this.finish();
      return;
    }
    // Copied so the held bytes do not pin the socket's whole chunk.
    phase.heldBack = Buffer.concat([phase.heldBack.subarray(fromHeld), chunk.subarray(fromChunk)]);
  }

  private deliver(piece: Buffer): void {
    this.bytes += piece.length;
    const receiving = this.options.receive(piece);
    if (receiving) this.receiving.push(receiving);
    this.options.onProgress?.(this.bytes);
  }

  private finish(): void {
    this.phase = { name: 'done' };
    // rdb-only: the server would close the link anyway; nothing more is read.
    this.socket?.destroy();
  }

  private resolveIfReceived(): void {
    if (this.settled || this.phase.name !== 'done' || !this.transfer) return;
    const result = { bytes: this.bytes, transfer: this.transfer };
    this.settle();
    this.resolve(result);
  }

  private onClose(): void {
    if (this.settled || this.phase.name === 'done') return;
    const where = this.endpoint.display;
    switch (this.phase.name) {
      case 'handshake':
        this.fail(new Error(`Redis at ${where} closed the connection during the handshake`));
        break;
      case 'header':
        this.fail(
          new ReplicationRefusedError(
            `Redis at ${where} refused replication: it closed the connection after SYNC. ${REFUSAL_ADVICE}`,
          ),
        );
        break;
      case 'sized-body':
        this.fail(new Error(`Redis at ${where}: connection closed after ${this.bytes} of ${this.phase.total} bytes`));
        break;
      case 'marked-body':
        this.fail(new Error(`Redis at ${where}: connection closed after ${this.bytes} bytes, before the EOF marker`));
        break;
    }
  }

  private failWithServerError(serverError: string): void {
    const message = this.redact(serverError);
    const where = this.endpoint.display;
    const step = this.phase.name === 'handshake' ? 'the AUTH/REPLCONF handshake' : 'SYNC';
    if (isRefusal(serverError)) {
      this.fail(new ReplicationRefusedError(`Redis at ${where} refused replication during ${step}: ${message}. ${REFUSAL_ADVICE}`));
    } else if (/^ERR Unrecognized REPLCONF option: rdb-only/i.test(serverError)) {
      this.fail(new Error(`Redis at ${where} is older than 6.2 and cannot send an RDB-only stream: ${message}`));
    } else {
      this.fail(new Error(`Redis at ${where} failed during ${step}: ${message}`));
    }
  }

  /** Servers echo arguments in some errors (e.g. a renamed AUTH), so the password is masked. */
  private redact(text: string): string {
    const password = this.endpoint.kind === 'tcp' ? this.endpoint.password : undefined;
    return password ? text.split(password).join('***') : text;
  }

  private fail(error: unknown): void {
    if (this.settled) return;
    this.settle();
    this.reject(error);
  }

  private settle(): void {
    this.settled = true;
    clearTimeout(this.connectTimer);
    this.options.signal?.removeEventListener('abort', this.onAbort);
    this.socket?.destroy();
  }
}

const REFUSAL_ADVICE =
  'The backup user needs replication rights (ACL: +sync +replconf, or +psync), and SYNC must not be ' +
  'renamed or blocked; managed services such as ElastiCache block it, so use a self-managed Redis or a replica that allows it.';
