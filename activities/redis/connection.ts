import { Redis } from 'ioredis';
import { storeUrl, type Config } from '../../core/config';

/** Raised when Redis refuses the credentials (WRONGPASS, NOAUTH): retrying cannot help. */
export class RedisAuthenticationError extends Error {
  override name = 'AuthenticationFailed';
}

/**
 * A client for one short conversation: it connects once, never reconnects, and reports failures
 * through its commands' promises instead of ioredis' "unhandled error" events. A failed connect
 * rejects with the server's own reason (ioredis itself only says "Connection is closed").
 */
export async function connectOnce(url: string, connectTimeoutMs = 5000): Promise<Redis> {
  const client = new Redis(url, { lazyConnect: true, connectTimeout: connectTimeoutMs, maxRetriesPerRequest: 0, retryStrategy: () => null });
  let reason: Error | undefined;
  client.on('error', (error: Error) => {
    reason ??= error;
  });
  try {
    await client.connect();
  } catch (error) {
    if (reason && /^(WRONGPASS|NOAUTH)\b/.test(reason.message)) throw new RedisAuthenticationError(`authentication failed: ${reason.message}`);
    throw reason ?? error;
  }
  return client;
}

/** Where a Redis URL points, without its credentials: safe for messages. */
export function describeRedisUrl(url: string): string {
  const parsed = new URL(url);
  return `${parsed.hostname}:${parsed.port || '6379'}`;
}

/**
 * Runs `work` on a connection to the configured Redis that is always closed afterwards. With `signal`,
 * a cancellation drops the connection at once, which also drops a command Redis still holds back.
 */
export async function withTarget<T>(config: Config, work: (target: Redis) => Promise<T>, signal?: AbortSignal): Promise<T> {
  const url = storeUrl(config, 'redis');
  let target: Redis;
  try {
    target = await connectOnce(url);
  } catch (error) {
    if (error instanceof RedisAuthenticationError) {
      throw new RedisAuthenticationError(`Redis at ${describeRedisUrl(url)} refused the credentials of REDIS_URL (${error.message})`);
    }
    throw new Error(`Redis at ${describeRedisUrl(url)} is unreachable: ${(error as Error).message}`);
  }
  const stop = () => target.disconnect();
  signal?.addEventListener('abort', stop, { once: true });
  try {
    return await work(target);
  } finally {
    signal?.removeEventListener('abort', stop);
    target.disconnect();
  }
}

export async function serverVersion(client: Redis): Promise<string> {
  return /redis_version:(\S+)/.exec(await client.info('server'))?.[1] ?? 'unknown';
}
