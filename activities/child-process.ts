import { spawn, type ChildProcess } from 'node:child_process';
import { CancelledFailure } from '@temporalio/common';
import { Duplex, PassThrough, Writable, type Readable } from 'node:stream';
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

export function spawnChecked(
  command: string,
  args: readonly string[],
  options: { env?: NodeJS.ProcessEnv; signal?: AbortSignal; stdin?: 'pipe' | 'ignore'; stdout?: 'pipe' | 'ignore' },
): CheckedChild {
  // Bound to the worker: a worker killed with SIGKILL takes its children with it.
  const line = boundToThisProcess(command, args);
  const child = spawn(line.command, line.args, {
    env: options.env ?? process.env,
    stdio: [options.stdin ?? 'ignore', options.stdout ?? 'pipe', 'pipe'],
    signal: options.signal,
    killSignal: 'SIGKILL',
  });
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
  return { process: child, done };
}

/** Runs a command to completion and returns its stdout. */
export async function runForOutput(command: string, args: readonly string[], env?: NodeJS.ProcessEnv): Promise<string> {
  const child = spawnChecked(command, args, { env });
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
 * A child process as a Duplex (zstd, pigz, age): stdin in, stdout out; its output ends only after it
 * exited with 0, so a truncated or unauthenticated input fails the pipeline instead of ending it early.
 */
export function childFilter(command: string, args: readonly string[], signal?: AbortSignal): Duplex {
  const child = spawnChecked(command, args, { stdin: 'pipe', signal });
  const output = new PassThrough({ highWaterMark: 1 << 20 });
  const stdout = child.process.stdout as Readable;
  stdout.pipe(output, { end: false });
  stdout.once('end', () => child.done.then(() => output.end(), (error: Error) => output.destroy(error)));
  const duplex = Duplex.from({ writable: exitStatusDecides(child.process.stdin as Writable), readable: output });
  child.done.catch((error: Error) => duplex.destroy(error));
  duplex.once('close', () => {
    if (child.process.exitCode === null) child.process.kill('SIGKILL');
  });
  return duplex;
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
