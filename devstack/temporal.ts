/** The Temporal CLI dev server (server, SQLite persistence, Web UI), started for the demo, dev mode and tests. */
import { spawn } from 'node:child_process';
import { mkdirSync, openSync, readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { Connection } from '@temporalio/client';
import { devServerSearchAttributeFlags } from '../core/search-attributes';
import { freePort, waitFor } from './ports';
import { temporalCli } from './tools';

export interface DevServerOptions {
  port?: number;
  /** Web UI port; `false` for headless. */
  uiPort?: number | false;
  /** SQLite file for a persistent history; in memory when omitted. */
  dbFile?: string;
  logFile: string;
  /** Keep running after this process exits (the demo leaves it up so its UI links work). */
  detached?: boolean;
}

export interface DevServer {
  address: string;
  uiUrl?: string;
  pid: number;
  stop(): Promise<void>;
}

export async function startTemporalDevServer(options: DevServerOptions): Promise<DevServer> {
  const port = options.port ?? (await freePort());
  // The project's search attributes exist from the first moment (the worker also registers them, for a
  // database file that predates them).
  const args = ['server', 'start-dev', '--ip', '127.0.0.1', '--port', String(port), '--log-level', 'warn', ...devServerSearchAttributeFlags()];
  if (options.dbFile) {
    mkdirSync(dirname(options.dbFile), { recursive: true });
    args.push('--db-filename', options.dbFile, '--sqlite-pragma', 'journal_mode=WAL');
  }
  if (options.uiPort === false) args.push('--headless');
  else args.push('--ui-port', String(options.uiPort ?? port + 1000), '--ui-disable-news-fetch');
  mkdirSync(dirname(options.logFile), { recursive: true });
  const log = openSync(options.logFile, 'a');
  const child = spawn(temporalCli(), args, { stdio: ['ignore', log, log], detached: options.detached ?? false });
  if (options.detached) child.unref();
  let exited = false;
  child.once('exit', () => (exited = true));
  const address = `127.0.0.1:${port}`;
  await waitFor(
    `the Temporal dev server on ${address}`,
    async () => {
      if (exited) throw new Error('exited');
      await (await Connection.connect({ address, connectTimeout: '1 second' })).close();
      return true;
    },
    60_000,
    () => readFileSync(options.logFile, 'utf8').trim().split('\n').slice(-3).join(' | '),
  );
  return {
    address,
    uiUrl: options.uiPort === false ? undefined : `http://127.0.0.1:${options.uiPort ?? port + 1000}`,
    pid: child.pid!,
    stop: async () => {
      if (exited) return;
      const gone = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await gone;
      clearTimeout(timer);
    },
  };
}
