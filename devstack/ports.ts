import { createServer, createConnection } from 'node:net';

/** A port the OS says is free on 127.0.0.1 right now. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

export function isPortOpen(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ port, host });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** `preferred` when nothing listens there, otherwise any free port. */
export async function portOrFree(preferred: number): Promise<number> {
  return (await isPortOpen(preferred)) ? freePort() : preferred;
}

export async function waitFor(what: string, check: () => Promise<boolean>, timeoutMs: number, explain = () => ''): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check().catch(() => false)) return;
    await new Promise((resolve) => setTimeout(resolve, 150));
  }
  const detail = explain();
  throw new Error(`${what} did not become ready within ${Math.round(timeoutMs / 1000)} s${detail ? `: ${detail}` : ''}`);
}
