import { Redis } from 'ioredis';

/**
 * A client for one short conversation: it connects once, never reconnects, and reports failures
 * through its commands' promises instead of ioredis' "unhandled error" events.
 */
export async function connectOnce(url: string, connectTimeoutMs = 5000): Promise<Redis> {
  const client = new Redis(url, { lazyConnect: true, connectTimeout: connectTimeoutMs, maxRetriesPerRequest: 0, retryStrategy: () => null });
  client.on('error', () => undefined);
  await client.connect();
  return client;
}
