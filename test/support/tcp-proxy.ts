/**
 * A TCP proxy on the loopback between a client and a store, which a test can cut: every connection
 * through it is dropped at once (both sides reset), as a failing network or a restarted middlebox
 * would. New connections are accepted again right after, so a retry can get through.
 */
import { createConnection, createServer, type Socket } from 'node:net';
import { freePort } from '../../devstack/ports';

export interface TcpProxy {
  port: number;
  /** How many connections are open through it now. */
  open(): number;
  /** Drops every open connection; returns how many it dropped. */
  cut(): number;
  close(): Promise<void>;
}

export async function startTcpProxy(targetPort: number, targetHost = '127.0.0.1'): Promise<TcpProxy> {
  const port = await freePort();
  const pairs = new Set<[Socket, Socket]>();
  const server = createServer((client) => {
    const upstream = createConnection({ host: targetHost, port: targetPort });
    const pair: [Socket, Socket] = [client, upstream];
    pairs.add(pair);
    const drop = () => {
      pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on('error', drop).on('close', drop);
    upstream.on('error', drop).on('close', drop);
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(port, '127.0.0.1', () => resolve()));
  return {
    port,
    open: () => pairs.size,
    cut: () => {
      const dropped = pairs.size;
      for (const [client, upstream] of [...pairs]) {
        client.resetAndDestroy();
        upstream.resetAndDestroy();
      }
      pairs.clear();
      return dropped;
    },
    close: async () => {
      for (const [client, upstream] of pairs) {
        client.destroy();
        upstream.destroy();
      }
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
