/**
 * QDRANT STAND-IN FOR TESTS — THIS IS NOT QDRANT.
 *
 * No Qdrant server can run on the test machines, so this small HTTP server imitates the part of
 * Qdrant's REST API that scholaria-backup uses (collections, points, aliases, collection snapshots:
 * create/list/download/delete, multipart upload and URL recovery). Paths, parameters, result shapes,
 * status codes and error messages follow Qdrant's published OpenAPI schema and server source, so code
 * tested against it should behave the same against a real server; the Qdrant tests hold every request
 * and answer against Qdrant's OpenAPI schema (test/support/qdrant-openapi). Behaviours copied from
 * Qdrant's source: snapshots are GNU tars with sparse members and `version.info` 0.4.2 (the collection
 * crate's version), one folder per shard; recovering into an existing collection replaces only its
 * points and keeps its config and payload indexes; alias actions apply one by one, each saved; a
 * read-only key gets 403 on anything but reads. It is test infrastructure only: no search, no
 * filters, no cluster, and a point format in the WAL only the stand-in understands (no segments).
 * Every response carries the header `x-qdrant-standin: true`, and `GET /` answers `"standin": true`.
 *
 * Layout: http.ts (server, routing, auth, envelope), routes.ts (endpoints), storage.ts (on-disk
 * state), snapshot-files.ts (snapshot archives), requests.ts (request validation), upload.ts, errors.ts.
 */
import type { AddressInfo } from 'node:net';
import { QdrantContract, type Violation } from '../qdrant-openapi/contract';
import { createServer } from './http';
import { routes } from './routes';
import { Storage } from './storage';

export interface QdrantStandIn {
  url: string;
  port: number;
  dataDir: string;
  apiKey?: string;
  version: string;
  /** Requests and answers so far that do not hold against Qdrant's OpenAPI schema (of `openApiVersion`). */
  contractViolations(): Violation[];
  openApiVersion: string;
  /** Closes the listener and open connections and waits for background (`wait=false`) work. */
  stop(): Promise<void>;
  /**
   * Test hook: makes the next snapshot listing/creation for this collection report a wrong checksum
   * (to test checksum mismatch handling). Whichever comes first consumes it: a creation writes the wrong
   * value into the `.checksum` sidecar (so that result and all later listings report it, like a corrupted
   * file on a real server); a listing reports a wrong checksum for every entry of that one response.
   */
  corruptNextSnapshotChecksum(collection: string): void;
  /**
   * Test hook: the next `count` snapshot uploads fail with HTTP 500 after the body was received,
   * collection untouched; with `afterCreate`, after the recovery created a missing collection (left empty).
   */
  failNextUploads(count: number, afterCreate?: boolean): void;
  /** Test hook: right after the next snapshot of `collection` is taken, `points` are upserted, as a live writer would. */
  writeAfterNextSnapshot(collection: string, points: unknown[]): void;
  /** Test hook: after `count` more alias actions succeed, the next one fails (HTTP 500), keeping those before it. */
  failAliasActionAfter(count: number): void;
}

export interface QdrantStandInOptions {
  /** All state lives here; starting again with the same directory restores it. */
  dataDir: string;
  /** Defaults to a free port. The server listens on 127.0.0.1 only. */
  port?: number;
  /** When set, requests need `api-key: <key>` or `Authorization: Bearer <key>`, else 401. */
  apiKey?: string;
  /** Qdrant's `read_only_api_key`: reads only; anything else, snapshot uploads included, gets 403. */
  readOnlyApiKey?: string;
  /** Reported by `GET /` (snapshots' `version.info` holds the collection format, 0.4.2, as Qdrant's do). Default '1.15.5'. */
  version?: string;
}

export async function startQdrantStandIn(options: QdrantStandInOptions): Promise<QdrantStandIn> {
  const version = options.version ?? '1.15.5';
  const storage = new Storage(options.dataDir, version);
  const contract = new QdrantContract();
  const { server, drain } = createServer(routes(storage, version), { apiKey: options.apiKey, readOnlyApiKey: options.readOnlyApiKey }, contract);

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    port,
    dataDir: options.dataDir,
    ...(options.apiKey !== undefined ? { apiKey: options.apiKey } : {}),
    version,
    openApiVersion: contract.version,
    contractViolations: () => [...contract.violations],
    async stop() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await closed;
      await drain();
    },
    corruptNextSnapshotChecksum(collection: string) {
      storage.markNextSnapshotChecksumCorrupt(collection);
    },
    failNextUploads(count: number, afterCreate = false) {
      storage.failNextUploads(count, afterCreate);
    },
    writeAfterNextSnapshot(collection: string, points: unknown[]) {
      storage.writeAfterNextSnapshot(collection, points);
    },
    failAliasActionAfter(count: number) {
      storage.failAliasActionAfter(count);
    },
  };
}
