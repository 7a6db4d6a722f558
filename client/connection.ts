import { readFileSync } from 'node:fs';
import { Client, Connection } from '@temporalio/client';
import { ConfigError, type Config } from '../core/config';
import { temporalConnectionOptions } from '../core/temporal-connection';

export class UserError extends Error {
  override name = 'UserError';
}

/** A client for the configured Temporal namespace; an unreachable server is one clear line. */
export async function connectTemporal(config: Config): Promise<Client> {
  try {
    const connection = await Connection.connect({ ...temporalConnectionOptions(config, readFileSync), connectTimeout: '10 seconds' });
    return new Client({ connection, namespace: config.temporal.namespace });
  } catch (error) {
    if (error instanceof ConfigError) throw error;
    throw new UserError(
      `cannot reach Temporal at ${config.temporal.address} (TEMPORAL_ADDRESS): ${(error as Error).message.split('\n')[0]}`,
    );
  }
}
