/**
 * How the CLI and the worker reach Temporal: the dev server in plain text, a self-hosted cluster with
 * mutual TLS, or Temporal Cloud with an API key. The configuration holds only certificate paths; the
 * caller passes the function that reads them (core does no I/O), at connect time.
 */
import type { TLSConfig } from '@temporalio/common/lib/internal-non-workflow';
import { ConfigError, type Config } from './config';

export interface TemporalConnectionOptions {
  address: string;
  tls?: TLSConfig;
  apiKey?: string;
}

export function temporalConnectionOptions(config: Config, readCertificate: (path: string) => Buffer): TemporalConnectionOptions {
  const { address, tls, apiKey } = config.temporal;
  if (!tls) return { address };
  const read = (path: string, variable: string) => {
    try {
      return readCertificate(path);
    } catch (error) {
      throw new ConfigError(`${variable} ${path} cannot be read (${(error as NodeJS.ErrnoException).code ?? 'error'})`);
    }
  };
  return {
    address,
    tls: {
      ...(tls.serverName ? { serverNameOverride: tls.serverName } : {}),
      ...(tls.serverCaCertPath ? { serverRootCACertificate: read(tls.serverCaCertPath, 'TEMPORAL_TLS_SERVER_CA_CERT_PATH') } : {}),
      ...(tls.clientCertPath && tls.clientKeyPath
        ? {
            clientCertPair: {
              crt: read(tls.clientCertPath, 'TEMPORAL_TLS_CLIENT_CERT_PATH'),
              key: read(tls.clientKeyPath, 'TEMPORAL_TLS_CLIENT_KEY_PATH'),
            },
          }
        : {}),
    },
    ...(apiKey ? { apiKey } : {}),
  };
}
