import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { ConfigError, loadConfig } from '../core/config';
import { temporalConnectionOptions } from '../core/temporal-connection';
import { scratchDir } from './support/stack';

const dir = scratchDir('tls');
after(() => rmSync(dir, { recursive: true, force: true }));

function certificate(name: string): { crt: string; key: string } {
  const crt = join(dir, `${name}.crt`);
  const key = join(dir, `${name}.key`);
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', `/CN=${name}`, '-keyout', key, '-out', crt], { stdio: 'ignore' });
  return { crt, key };
}

test('Temporal connection: plain by default, as for the dev server', () => {
  assert.deepEqual(temporalConnectionOptions(loadConfig({ TEMPORAL_ADDRESS: 'temporal:7233' }), readFileSync), { address: 'temporal:7233' });
});

test('Temporal connection: mutual TLS from certificate files, with CA and server name', () => {
  const client = certificate('client');
  const ca = certificate('ca');
  const options = temporalConnectionOptions(
    loadConfig({
      TEMPORAL_ADDRESS: 'temporal.internal:7233',
      TEMPORAL_TLS_CLIENT_CERT_PATH: client.crt,
      TEMPORAL_TLS_CLIENT_KEY_PATH: client.key,
      TEMPORAL_TLS_SERVER_CA_CERT_PATH: ca.crt,
      TEMPORAL_TLS_SERVER_NAME: 'temporal.example',
    }),
    readFileSync,
  );
  assert.equal(options.tls?.serverNameOverride, 'temporal.example');
  assert.deepEqual(Buffer.from(options.tls!.clientCertPair!.crt), readFileSync(client.crt));
  assert.deepEqual(Buffer.from(options.tls!.clientCertPair!.key), readFileSync(client.key));
  assert.deepEqual(Buffer.from(options.tls!.serverRootCACertificate!), readFileSync(ca.crt));
  assert.equal(options.apiKey, undefined);
});

test('Temporal connection: Temporal Cloud with an API key always uses TLS', () => {
  const options = temporalConnectionOptions(loadConfig({ TEMPORAL_ADDRESS: 'ns.acct.tmprl.cloud:7233', TEMPORAL_NAMESPACE: 'ns.acct', TEMPORAL_API_KEY: 'key-123' }), readFileSync);
  assert.deepEqual(options, { address: 'ns.acct.tmprl.cloud:7233', tls: {}, apiKey: 'key-123' });
});

test('Temporal connection: inconsistent settings are one clear error naming the variable', () => {
  const client = certificate('lonely');
  assert.throws(() => loadConfig({ TEMPORAL_TLS_CLIENT_CERT_PATH: client.crt }), (error: Error) =>
    error instanceof ConfigError && /^TEMPORAL_TLS_CLIENT_KEY_PATH is not set/.test(error.message));
  assert.throws(() => loadConfig({ TEMPORAL_TLS: 'false', TEMPORAL_API_KEY: 'k' }), /TEMPORAL_TLS is false, but/);
  assert.throws(() => loadConfig({ TEMPORAL_TLS_SERVER_CA_CERT_PATH: 'ca.pem' }), /^ConfigError: TEMPORAL_TLS_SERVER_CA_CERT_PATH must be an absolute path$/);
  assert.throws(() => temporalConnectionOptions(loadConfig({ TEMPORAL_TLS_SERVER_CA_CERT_PATH: join(dir, 'missing.pem') }), readFileSync), /TEMPORAL_TLS_SERVER_CA_CERT_PATH .*missing\.pem cannot be read \(ENOENT\)/);
});
