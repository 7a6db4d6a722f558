import { spawn, type ChildProcess } from 'node:child_process';
import { CancelledFailure } from '@temporalio/common';
import { setTimeout as delay } from 'node:timers/promises';
import { Duplex, PassThrough, Readable, Writable } from 'node:stream';
import { applyCpuPriority } from './cpu-priority';
import { boundToThisProcess, SETPRIV_COMMAND_NOT_FOUND } from './process-lifetime';

/** A child whose exit code is checked: a dump that ends early must fail, however much it wrote. */
export interface CheckedChild {
  process: ChildProcess;
  /** Resolves when the child exited with 0; rejects with its last stderr lines otherwise. */
  done: Promise<void>;
}

export class ChildFailed extends Error {
  override name = 'ChildFailed';
}

/** A program and its arguments, run as a stage of a pipe. */
export interface Command {
  command: string;
  args: readonly string[];
}

export function spawnChecked(
  command: string,
  args: readonly string[],
  options: {
    env?: NodeJS.ProcessEnv;
    signal?: AbortSignal;
    /** A Readable here is another child's stdout, handed over as the child's stdin: its bytes never pass through Node. */
    stdin?: 'pipe' | 'ignore' | Readable;
    /**
     * A named pipe the child reads as its stdin, opened by a shell that then becomes the child: Node
     * would block a thread opening it, and a program given the name itself may open it twice
     * (pg_restore reopens its input file after reading the header).
     */
    stdinFrom?: string;
    /** A file the child's stdout is written to (created owner-only) by the same shell, so the bytes never pass through Node. */
    stdoutTo?: string;
    stdout?: 'pipe' | 'ignore';
  },
): CheckedChild {
  // Bound to the worker: a worker killed with SIGKILL takes its children with it.
  const line = boundToThisProcess(...withRedirections(command, args, options.stdinFrom, options.stdoutTo));
  const child = spawn(line.command, line.args, {
    env: options.env ?? process.env,
    stdio: [options.stdin ?? 'ignore', options.stdout ?? 'pipe', 'pipe'],
    signal: options.signal,
    killSignal: 'SIGKILL',
  });
  applyCpuPriority(child.pid);
  // The child holds its own copy of the pipe now; ours would keep it open after the reader is gone, so a
  // writer upstream would block instead of getting EPIPE.
  if (options.stdin instanceof Readable) options.stdin.destroy();
  let stderr = '';
  child.stderr?.setEncoding('utf8').on('data', (text: string) => {
    stderr = (stderr + text).slice(-4000);
  });
  const done = new Promise<void>((resolve, reject) => {
    child.once('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') reject(new ChildFailed(`${command} is not installed or not on PATH`));
      // A cancellation, not a failure of the child: the run reports the store as stopped, not failed.
      else if (error.name === 'AbortError') reject(new CancelledFailure(`${command} was stopped: the activity was cancelled`));
      else reject(new ChildFailed(`${command}: ${error.message}`));
    });
    child.once('close', (code, signal) => {
      if (code === 0) return resolve();
      if (line.bound && code === SETPRIV_COMMAND_NOT_FOUND && /setpriv: failed to execute/.test(stderr)) {
        return reject(new ChildFailed(`${command} is not installed or not on PATH`));
      }
      // age ends every error with a line asking to report unhelpful errors: it says nothing about this one.
      const lastLines = stderr
        .trim()
        .split('\n')
        .filter((line) => !line.includes('report unexpected or unhelpful errors'))
        .slice(-3)
        .join('; ');
      const how = signal ? `was killed by ${signal}` : `exited with code ${code}`;
      reject(new ChildFailed(`${command} ${how}${lastLines ? `: ${lastLines}` : ''}`));
    });
  });
  // A caller that stops listening (its stream broke first) must not turn the child's later failure into an unhandled rejection that ends the worker.
  done.catch(() => undefined);
  return { process: child, done };
}

/** `command` as is, or run by a shell that opens its stdin and stdout files and then becomes it (`exec`). */
function withRedirections(command: string, args: readonly string[], stdinFrom?: string, stdoutTo?: string): [string, readonly string[]] {
  if (stdinFrom === undefined && stdoutTo === undefined) return [command, args];
  const script = ['umask 077; input=$1; output=$2; shift 2; exec "$@"', stdinFrom === undefined ? '' : '< "$input"', stdoutTo === undefined ? '' : '> "$output"'].join(' ');
  return ['sh', ['-c', script, 'sh', stdinFrom ?? '', stdoutTo ?? '', command, ...args]];
}

/** Runs a command to completion and returns its stdout. */
export async function runForOutput(command: string, args: readonly string[], env?: NodeJS.ProcessEnv, signal?: AbortSignal): Promise<string> {
  const child = spawnChecked(command, args, { env, signal });
  let out = '';
  child.process.stdout?.setEncoding('utf8').on('data', (text: string) => (out += text));
  await child.done;
  return out;
}

/**
 * Streams `source` into a child's stdin. A reader such as pg_restore may close its stdin as soon as it
 * has read all it needs, even a few bytes before the end: its exit code, not the pipe, says whether
 * that was right. What is left of `source` then is drained, so nothing upstream stalls.
 */
export function feedChild(source: Readable, stdin: Writable): Promise<void> {
  return new Promise((resolve, reject) => {
    stdin.on('error', () => undefined);
    stdin.once('close', () => {
      source.unpipe(stdin);
      source.resume();
    });
    source.once('error', reject);
    source.once('end', resolve);
    source.pipe(stdin);
  });
}

/**
 * `commands` run as a shell pipe does, each reading the previous one's stdout: the bytes between them
 * never pass through Node. The first reads `from`: a child's stdout (handed over, not read by Node), a
 * file or named pipe (`{ path }`), or `'pipe'`, its stdin, which is `input` then; the last writes
 * `into`, a file (created owner-only), or else its stdout is `output`. `done` resolves once every
 * command exited with 0; otherwise the others are stopped, and it rejects with the failure
 * `settleTogether` names.
 */
export function spawnPipe(
  from: Readable | { path: string } | 'pipe',
  commands: readonly [Command, ...Command[]],
  options: { signal?: AbortSignal; into?: string } = {},
): { input: Writable | null; output: Readable | null; done: Promise<void> } {
  const stop = new AbortController();
  const stopped = options.signal ? AbortSignal.any([options.signal, stop.signal]) : stop.signal;
  let previous: Readable | null = from instanceof Readable ? from : null;
  const children = commands.map(({ command, args }, index) => {
    const first = index === 0;
    const last = index === commands.length - 1;
    const child = spawnChecked(command, args, {
      signal: stopped,
      ...(first ? stdinOf(from) : { stdin: previous ?? 'ignore' }),
      ...(last && options.into !== undefined ? { stdoutTo: options.into, stdout: 'ignore' as const } : {}),
    });
    previous = child.process.stdout;
    return child;
  });
  // The first to exit is often a victim (a decompressor whose decryptor refused the file ends on an empty input).
  const done = settleTogether(
    children.map((child) => child.done),
    stop,
  );
  return { input: children[0]!.process.stdin, output: previous, done };
}

function stdinOf(from: Readable | { path: string } | 'pipe'): { stdin: Readable | 'pipe' } | { stdinFrom: string } {
  if (from instanceof Readable || from === 'pipe') return { stdin: from };
  return { stdinFrom: from.path };
}

/** How long the other stages of a pipe may take to exit on their own once one failed, before they are stopped. */
const PIPE_EXIT_GRACE_MS = 2000;

/**
 * Waits for programs that feed each other (a pipe's stages, or programs joined by named pipes, and
 * whoever reads them). Once one fails, the others get a moment to end on their own (one left waiting
 * to open a named pipe never would), then `stop` is aborted. The failure thrown is the first of
 * `tasks`, in the order given, of a program that exited with an error of its own; failing that, the
 * first that did not merely stop when told to.
 */
export async function settleTogether(tasks: readonly Promise<unknown>[], stop: AbortController): Promise<void> {
  try {
    await Promise.all(tasks);
    return;
  } catch {
    await Promise.race([Promise.allSettled(tasks), delay(PIPE_EXIT_GRACE_MS)]);
    stop.abort();
  }
  const failures = (await Promise.allSettled(tasks)).flatMap((settled) => (settled.status === 'rejected' ? [settled.reason as unknown] : []));
  throw (
    failures.find((failure) => failure instanceof ChildFailed && / exited with code /.test(failure.message)) ??
    failures.find((failure) => !(failure instanceof CancelledFailure)) ??
    failures[0]
  );
}

/**
 * A child process as a Duplex (zstd, pigz, age): stdin in, stdout out; its output ends only after it
 * exited with 0, so a truncated or unauthenticated input fails the pipeline instead of ending it early.
 */
export function childFilter(command: string, args: readonly string[], signal?: AbortSignal): Duplex {
  const child = spawnChecked(command, args, { stdin: 'pipe', signal });
  const output = endingOnSuccess(child.process.stdout as Readable, child.done);
  const duplex = Duplex.from({ writable: exitStatusDecides(child.process.stdin as Writable), readable: output });
  child.done.catch((error: Error) => duplex.destroy(error));
  duplex.once('close', () => {
    if (child.process.exitCode === null) child.process.kill('SIGKILL');
  });
  return duplex;
}

/**
 * `stdout` of the programs whose exits are `done`, as a stream that ends only once they all exited with
 * 0 and fails with their failure otherwise: a truncated or unauthenticated input must not look like a
 * short one.
 */
export function endingOnSuccess(stdout: Readable, done: Promise<void>): Readable {
  const output = new PassThrough({ highWaterMark: 1 << 20 });
  stdout.pipe(output, { end: false });
  stdout.once('end', () => done.then(() => output.end(), (error: Error) => output.destroy(error)));
  done.catch((error: Error) => output.destroy(error));
  return output;
}

/**
 * A child's stdin whose write errors are dropped: a filter that stops early (age refusing an identity
 * or a chunk) closes its stdin, and the EPIPE that follows would hide the child's own reason, which
 * its exit status then gives (childFilter destroys the stream with it).
 */
function exitStatusDecides(stdin: Writable): Writable {
  stdin.on('error', () => undefined);
  return new Writable({
    highWaterMark: 1 << 20,
    write(chunk: Buffer, _encoding, callback) {
      if (stdin.destroyed || !stdin.writable) return callback();
      stdin.write(chunk, () => callback());
    },
    final(callback) {
      if (stdin.destroyed || !stdin.writable) return callback();
      stdin.end(() => callback());
    },
    destroy(error, callback) {
      stdin.destroy();
      callback(error);
    },
  });
}
