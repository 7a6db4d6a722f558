/**
 * The master's side of one Redis full resynchronisation, serving a stored RDB: the target is told
 * `REPLICAOF <worker>` and loads the file itself, as a restart on that file would, instead of taking a
 * million RESTORE calls. Only what a replica says during a full sync is understood (PING, AUTH,
 * REPLCONF, PSYNC/SYNC; `syncWithMaster` in Redis's `src/replication.c`). The RDB goes out with an EOF
 * mark (`capa eof`, every Redis since 2.8.18), streamed as it is decompressed, and the mark goes out
 * only if the whole stream passed its checks. The replica sends its
 * first `REPLCONF ACK` only after loading the whole payload, so that ACK is the proof of success.
 */
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type Server, type Socket } from 'node:net';
import { chunkWriter } from '../file-chunks';

export interface RdbSourceOptions {
  /** The local address to listen on: the one the target sees this worker at. */
  host: string;
  /** The only address allowed to connect: the target's. Anyone else is refused, so the data goes nowhere else. */
  peer: string;
  /**
   * Streams the RDB's bytes, decompressed, through `send`; called once, when the replica asks for them.
   * A chunk is lent (see ChunkConsumer): its buffer may be reused once its `send` settled.
   */
  stream: (send: (chunk: Buffer) => Promise<void>) => Promise<void>;
  /**
   * Called once every byte is sent and before the EOF mark: a throw withholds the mark, so the replica
   * never loads the payload and keeps its data. Redis ends its own process on a corrupt RDB.
   */
  beforeMark: () => void;
  signal: AbortSignal;
  onBytes?: (bytes: number) => void;
}

export interface RdbSource {
  port: number;
  /** Resolves when a replica from `peer` asked for the full sync. */
  requested: Promise<void>;
  /** Resolves with the bytes sent once the replica acknowledged, i.e. loaded, the whole RDB. */
  loaded: Promise<number>;
  /** Connections refused because they came from elsewhere, for the message when nobody valid came. */
  refusedPeers: string[];
  close(): Promise<void>;
}

const MARK_BYTES = 40;

export async function serveRdb(options: RdbSourceOptions): Promise<RdbSource> {
  const refusedPeers: string[] = [];
  let replica: Socket | undefined;
  let markRequested!: () => void;
  let settle!: { resolve: (bytes: number) => void; reject: (error: Error) => void };
  const requested = new Promise<void>((resolve) => (markRequested = resolve));
  const loaded = new Promise<number>((resolve, reject) => (settle = { resolve, reject }));
  loaded.catch(() => undefined);

  const server: Server = createServer((socket) => {
    const from = (socket.remoteAddress ?? '').replace(/^::ffff:/, '');
    if (replica || from !== options.peer) {
      refusedPeers.push(from);
      socket.destroy();
      return;
    }
    replica = socket;
    new ReplicaConversation(socket, options, markRequested, settle).start();
  });
  const onAbort = () => {
    settle.reject(options.signal.reason instanceof Error ? options.signal.reason : new Error('cancelled'));
    replica?.destroy();
  };
  options.signal.addEventListener('abort', onAbort, { once: true });
  server.listen({ host: options.host, port: 0 });
  try {
    await once(server, 'listening');
  } catch (error) {
    options.signal.removeEventListener('abort', onAbort);
    throw new Error(`cannot listen on ${options.host}: ${(error as Error).message}`);
  }
  const address = server.address();
  return {
    port: typeof address === 'object' && address ? address.port : 0,
    requested,
    loaded,
    refusedPeers,
    close: async () => {
      options.signal.removeEventListener('abort', onAbort);
      settle.reject(new Error('the replication source was closed'));
      replica?.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

class ReplicaConversation {
  private buffer = Buffer.alloc(0);
  private capaEof = false;
  private sending = false;
  private sent = 0;

  constructor(
    private readonly socket: Socket,
    private readonly options: RdbSourceOptions,
    private readonly markRequested: () => void,
    private readonly settle: { resolve: (bytes: number) => void; reject: (error: Error) => void },
  ) {}

  start(): void {
    this.socket.on('data', (chunk: Buffer) => this.onData(chunk));
    this.socket.on('error', (error) => this.settle.reject(new Error(`the replication link to the target broke: ${error.message}`)));
    this.socket.on('close', () =>
      this.settle.reject(
        new Error(
          this.sending
            ? `the target closed the replication link after ${this.sent} bytes of the RDB, before loading it (its log says why)`
            : 'the target closed the replication link during the handshake',
        ),
      ),
    );
  }

  private onData(chunk: Buffer): void {
    this.buffer = Buffer.concat([this.buffer, chunk]);
    for (let command = this.nextCommand(); command; command = this.nextCommand()) this.answer(command);
  }

  private answer([name = '', ...args]: string[]): void {
    switch (name.toUpperCase()) {
      case 'PING':
        this.socket.write('+PONG\r\n');
        return;
      case 'AUTH':
        // The target sends its own masterauth, if it has one; who may connect is decided by address.
        this.socket.write('+OK\r\n');
        return;
      case 'REPLCONF': {
        const [sub = '', ...values] = args;
        if (sub.toUpperCase() === 'ACK') {
          if (this.sending) this.settle.resolve(this.sent);
          return;
        }
        if (sub.toLowerCase() === 'capa' && values.some((value) => value.toLowerCase() === 'eof')) this.capaEof = true;
        this.socket.write('+OK\r\n');
        return;
      }
      case 'PSYNC':
      case 'SYNC':
        if (this.sending) return;
        if (!this.capaEof) {
          this.socket.write('-ERR scholaria-backup sends the RDB only with an EOF mark (capa eof)\r\n');
          this.settle.reject(new Error('the target does not accept EOF-marked transfers (Redis older than 2.8.18)'));
          return;
        }
        this.sending = true;
        this.markRequested();
        this.sendRdb().catch((error: Error) => {
          this.settle.reject(new Error(`sending the RDB failed: ${error.message}`));
          this.socket.destroy();
        });
        return;
      default:
        this.socket.write(`-ERR unknown command '${name.slice(0, 32)}'\r\n`);
    }
  }

  private async sendRdb(): Promise<void> {
    const mark = randomBytes(MARK_BYTES / 2).toString('hex');
    this.socket.write(`+FULLRESYNC ${randomBytes(20).toString('hex')} 0\r\n$EOF:${mark}\r\n`);
    const replica = chunkWriter(this.socket);
    await this.options.stream(async (chunk) => {
      this.sent += chunk.length;
      this.options.onBytes?.(this.sent);
      await replica.write(chunk);
    });
    this.options.beforeMark();
    this.socket.write(mark);
  }

  /** One command from the buffer, RESP array or inline, or undefined when it is not complete yet. */
  private nextCommand(): string[] | undefined {
    while (this.buffer[0] === 0x0a || this.buffer[0] === 0x0d) this.buffer = this.buffer.subarray(1);
    if (this.buffer.length === 0) return undefined;
    if (this.buffer[0] !== 0x2a) {
      const end = this.buffer.indexOf('\n');
      if (end === -1) return undefined;
      const line = this.buffer.toString('utf8', 0, end).trim();
      this.buffer = this.buffer.subarray(end + 1);
      return line.split(/\s+/);
    }
    let offset = 0;
    const readLine = (): string | undefined => {
      const end = this.buffer.indexOf('\r\n', offset);
      if (end === -1) return undefined;
      const line = this.buffer.toString('utf8', offset, end);
      offset = end + 2;
      return line;
    };
    const header = readLine();
    if (header === undefined) return undefined;
    const count = Number(header.slice(1));
    const parts: string[] = [];
    for (let i = 0; i < count; i++) {
      const lengthLine = readLine();
      if (lengthLine === undefined) return undefined;
      const length = Number(lengthLine.slice(1));
      if (this.buffer.length < offset + length + 2) return undefined;
      parts.push(this.buffer.toString('utf8', offset, offset + length));
      offset += length + 2;
    }
    this.buffer = this.buffer.subarray(offset);
    return parts;
  }
}
