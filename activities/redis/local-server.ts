/**
 * A private, throw-away `redis-server` process: for tests, for the demo, and for loading an RDB to
 * check or restore it without touching any real Redis.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, readFile, stat } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis, type RedisOptions } from 'ioredis';
import { boundToThisProcess, SETPRIV_COMMAND_NOT_FOUND } from '../process-lifetime';

export interface LocalRedisOptions {
  /** Working folder (created if missing); holds the socket and the log, and the RDB unless `rdbFile` is given. */
  dir: string;
  /** Absolute path of an existing RDB to load at start; the server never writes over it. */
  rdbFile?: string;
  /** TCP port on 127.0.0.1; when omitted the server listens only on a unix socket in `dir`. */
  port?: number;
  password?: string;
  extraArgs?: string[];
  binary?: string;
}

export interface LocalRedis {
  /** `redis://[:password@]127.0.0.1:PORT`, or `unix:` + socketPath (no password) in socket mode. */
  url: string;
  socketPath?: string;
  port?: number;
  pid: number;
  /** SHUTDOWN NOSAVE, then SIGKILL if the process is still alive after a few seconds. Idempotent. */
  stop(): Promise<void>;
}

const LOG_FILE = 'redis.log';
const SOCKET_FILE = 'redis.sock';
const FIRST_REPLY_TIMEOUT_MS = 15_000;
const STOP_GRACE_MS = 5_000;
const POLL_INTERVAL_MS = 50;
/** sun_path is 108 bytes on Linux including the terminating NUL. */
const MAX_SOCKET_PATH_BYTES = 107;
const STDERR_KEEP_BYTES = 4096;

type ExitInfo = { code: number | null; signal: NodeJS.Signals | null };

export async function startLocalRedis(options: LocalRedisOptions): Promise<LocalRedis> {
  const binary = options.binary ?? 'redis-server';
  await mkdir(options.dir, { recursive: true });
  if (options.rdbFile !== undefined) await assertReadableRdb(options.rdbFile);

  const socketPath = options.port === undefined ? join(options.dir, SOCKET_FILE) : undefined;
  if (socketPath !== undefined && Buffer.byteLength(socketPath) > MAX_SOCKET_PATH_BYTES) {
    throw new Error(`unix socket path too long for Linux (${Buffer.byteLength(socketPath)} bytes > ${MAX_SOCKET_PATH_BYTES}): ${socketPath}`);
  }
  const logFile = join(options.dir, LOG_FILE);
  const args = serverArguments(options, logFile, socketPath);

  // Bound to this process: a worker killed with SIGKILL must not leave its redis-server behind.
  const line = boundToThisProcess(binary, args);
  const child = spawn(line.command, line.args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderrTail = '';
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (text: string) => {
    stderrTail = (stderrTail + text).slice(-STDERR_KEEP_BYTES);
  });
  let exitInfo: ExitInfo | undefined;
  const exited = new Promise<ExitInfo>((resolve) => {
    child.once('exit', (code, signal) => {
      exitInfo = { code, signal };
      resolve(exitInfo);
    });
  });

  const notFound = () =>
    new Error(`cannot run ${binary}: not found. Install Debian's redis-server package (apt-get install redis-server), or pass the binary's path`);
  const spawned = await spawnOutcome(child);
  if (spawned instanceof Error) {
    if ((spawned as NodeJS.ErrnoException).code === 'ENOENT') throw notFound();
    throw spawned;
  }

  const connection: RedisOptions = socketPath !== undefined ? { path: socketPath } : { host: '127.0.0.1', port: options.port! };
  if (options.password !== undefined) connection.password = options.password;
  const describeFailure = async (what: string): Promise<Error> => {
    const log = await logTail(logFile);
    const stderr = stderrTail.trim();
    return new Error([what, log && `--- ${logFile} (tail) ---\n${log}`, stderr && `--- stderr ---\n${stderr}`].filter(Boolean).join('\n'));
  };

  try {
    await waitUntilLoaded(connection, () => exitInfo, FIRST_REPLY_TIMEOUT_MS);
  } catch (error) {
    if (line.bound && exitInfo?.code === SETPRIV_COMMAND_NOT_FOUND && stderrTail.includes('setpriv: failed to execute')) throw notFound();
    const reason = exitInfo
      ? `redis-server exited during start-up (code ${exitInfo.code}, signal ${exitInfo.signal})`
      : `redis-server did not become ready: ${(error as Error).message}`;
    if (!exitInfo) {
      child.kill('SIGKILL');
      await exited;
    }
    throw await describeFailure(reason);
  }

  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= shutdown(connection, child, exited, () => exitInfo !== undefined);
    return stopping;
  };

  const url =
    socketPath !== undefined
      ? `unix:${socketPath}`
      : `redis://${options.password !== undefined ? `:${encodeURIComponent(options.password)}@` : ''}127.0.0.1:${options.port}`;
  return {
    url,
    ...(socketPath !== undefined ? { socketPath } : { port: options.port! }),
    pid: child.pid!,
    stop,
  };
}

/** Parses `INFO keyspace` into `{ db0: 12, db3: 4 }`; Redis lists only databases that hold keys. */
export async function keyCountsPerDatabase(redis: Redis): Promise<Record<string, number>> {
  const info = await redis.info('keyspace');
  const counts: Record<string, number> = {};
  for (const line of info.split(/\r?\n/)) {
    const match = /^(db\d+):keys=(\d+),/.exec(line);
    if (match && Number(match[2]) > 0) counts[match[1]!] = Number(match[2]);
  }
  return counts;
}

function serverArguments(options: LocalRedisOptions, logFile: string, socketPath: string | undefined): string[] {
  const args = ['--daemonize', 'no', '--logfile', logFile];
  if (socketPath !== undefined) {
    args.push('--port', '0', '--unixsocket', socketPath, '--unixsocketperm', '700');
  } else {
    args.push('--port', String(options.port), '--bind', '127.0.0.1');
  }
  if (options.rdbFile !== undefined) {
    args.push('--dir', dirname(options.rdbFile), '--dbfilename', basename(options.rdbFile));
  } else {
    args.push('--dir', options.dir);
  }
  if (options.password !== undefined) args.push('--requirepass', options.password);
  // A throw-away server persists nothing by default; callers may opt in through extraArgs.
  const noPersistence = ['--save', '', '--appendonly', 'no'];
  args.push(...noPersistence, ...(options.extraArgs ?? []));
  // Repeated last when an RDB is loaded, so no extra argument can make the server save over it.
  if (options.rdbFile !== undefined) args.push(...noPersistence);
  return args;
}

async function assertReadableRdb(rdbFile: string): Promise<void> {
  if (!isAbsolute(rdbFile)) throw new Error(`rdbFile must be an absolute path: ${rdbFile}`);
  // Redis starts empty, without complaint, when dir/dbfilename does not exist: refuse that here.
  const facts = await stat(rdbFile).catch((error: NodeJS.ErrnoException) => {
    throw new Error(`cannot load ${rdbFile}: ${error.code ?? error.message}`);
  });
  if (!facts.isFile()) throw new Error(`cannot load ${rdbFile}: not a regular file`);
}

/** Resolves once the process is running, or with the spawn error (e.g. ENOENT). */
function spawnOutcome(child: ChildProcess): Promise<Error | undefined> {
  return new Promise((resolve) => {
    child.once('spawn', () => resolve(undefined));
    child.once('error', resolve);
  });
}

/**
 * Polls until the server answers, then until it has finished loading its RDB. The time limit covers
 * only the first answer: loading a large RDB may legitimately take longer, and a failed load ends
 * the process, which `exitInfo` reports.
 */
async function waitUntilLoaded(connection: RedisOptions, exitInfo: () => unknown, firstReplyTimeoutMs: number): Promise<void> {
  const deadline = Date.now() + firstReplyTimeoutMs;
  let answered = false;
  let lastProblem = 'no answer yet';
  for (;;) {
    if (exitInfo()) throw new Error('process exited');
    if (!answered && Date.now() > deadline) throw new Error(`no answer within ${firstReplyTimeoutMs} ms (${lastProblem})`);
    const client = probeClient(connection);
    try {
      await client.connect();
      const persistence = await client.info('persistence');
      answered = true;
      if (/^loading:0\r?$/m.test(persistence)) return;
      lastProblem = 'still loading';
    } catch (error) {
      const message = (error as Error).message;
      if (message.startsWith('LOADING')) answered = true;
      lastProblem = message;
    } finally {
      client.disconnect();
    }
    await sleep(POLL_INTERVAL_MS);
  }
}

async function shutdown(
  connection: RedisOptions,
  child: ChildProcess,
  exited: Promise<unknown>,
  hasExited: () => boolean,
): Promise<void> {
  if (hasExited()) return;
  const client = probeClient(connection);
  try {
    await client.connect();
    // The reply never comes: the server closes the connection as it exits.
    await client.call('SHUTDOWN', 'NOSAVE').catch(() => undefined);
  } catch {
    // Unreachable server: the SIGKILL below still ends the process.
  } finally {
    client.disconnect();
  }
  // Unreferenced, so an already finished shutdown does not keep the caller's process alive for the grace period.
  const gracePeriod = sleep(STOP_GRACE_MS, undefined, { ref: false }).then(() => 'timeout' as const);
  if ((await Promise.race([exited.then(() => 'exited' as const), gracePeriod])) === 'timeout') {
    child.kill('SIGKILL');
    await exited;
  }
}

/**
 * One connection attempt, no retries and no ready check: the polling loop decides what a failure
 * means. ioredis prints unhandled 'error' events, and failures are expected here, hence the no-op.
 * `disconnectTimeout: 0` tears the socket down at once: otherwise ioredis keeps a 2 s timer alive
 * for a socket the server already closed (after SHUTDOWN), delaying the caller's exit.
 */
function probeClient(connection: RedisOptions): Redis {
  const client = new Redis({
    ...connection,
    lazyConnect: true,
    enableReadyCheck: false,
    retryStrategy: () => null,
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
    disconnectTimeout: 0,
  });
  client.on('error', () => {});
  return client;
}

async function logTail(logFile: string): Promise<string> {
  const text = await readFile(logFile, 'utf8').catch(() => '');
  return text.trimEnd().split('\n').slice(-20).join('\n');
}
