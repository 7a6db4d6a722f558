/**
 * A real S3 server for tests, the bench and local use: `rclone serve s3` over a folder (each top-level
 * folder is a bucket), on a free port, with generated keys. Stopping it keeps the folder; `remove`
 * deletes it too.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, isPortOpen, waitFor } from './ports';
import { rcloneCli } from './tools';

export interface S3Server {
  /** `http://127.0.0.1:PORT` */
  endpoint: string;
  port: number;
  accessKeyId: string;
  secretAccessKey: string;
  /** The folder served; `<dir>/<bucket>/<key>` is an object. */
  dir: string;
  pid(): number | undefined;
  /** Stops the server, keeping the folder (a test may start it again on the same port with `start`). */
  stop(): Promise<void>;
  start(): Promise<void>;
  /** Stops the server and deletes the folder. */
  remove(): Promise<void>;
}

export async function startS3Server(options: { buckets: string[]; dir?: string; port?: number }): Promise<S3Server> {
  const dir = options.dir ?? mkdtempSync(join(tmpdir(), 'scholaria-s3-'));
  const data = join(dir, 'data');
  for (const bucket of options.buckets) mkdirSync(join(data, bucket), { recursive: true });
  const port = options.port ?? (await freePort());
  // rclone refuses very short access keys (a two-letter one gave InvalidAccessKeyId).
  const accessKeyId = `AKTEST${randomBytes(8).toString('hex').toUpperCase()}`;
  const secretAccessKey = randomBytes(24).toString('base64url');
  const logFile = join(dir, 'rclone.log');
  let child: ChildProcess | undefined;
  let exited = true;

  const start = async () => {
    const log = openSync(logFile, 'a');
    child = spawn(
      rcloneCli(),
      // The key pair is passed on the command line of a private test server only; production never runs this.
      ['serve', 's3', '--addr', `127.0.0.1:${port}`, '--auth-key', `${accessKeyId},${secretAccessKey}`, '--config', '/dev/null', data],
      { stdio: ['ignore', log, log] },
    );
    exited = false;
    child.once('exit', () => (exited = true));
    await waitFor(
      `rclone serve s3 on 127.0.0.1:${port}`,
      async () => {
        if (exited) throw new Error('exited');
        return isPortOpen(port);
      },
      20_000,
      () => readFileSync(logFile, 'utf8').trim().split('\n').slice(-3).join(' | '),
    );
  };

  const stop = async () => {
    if (!child || exited) return;
    const gone = new Promise((resolve) => child!.once('exit', resolve));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child?.kill('SIGKILL'), 5000);
    await gone;
    clearTimeout(timer);
  };

  await start();
  return {
    endpoint: `http://127.0.0.1:${port}`,
    port,
    accessKeyId,
    secretAccessKey,
    dir: data,
    pid: () => (exited ? undefined : child?.pid),
    stop,
    start,
    remove: async () => {
      await stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
