/**
 * QDRANT STAND-IN FOR TESTS — THIS IS NOT QDRANT.
 *
 * No Qdrant server can run on the test machines, so this small HTTP server imitates the part of
 * Qdrant's REST API that scholaria-backup uses (collections, points, aliases, collection snapshots:
 * create/list/download/delete, multipart upload and URL recovery). Paths, parameters, result shapes,
 * status codes and error messages follow Qdrant's published OpenAPI schema and server source, so code
 * tested against it should behave the same against a real server. It is test infrastructure only:
 * no search, no filters, one shard, no cluster, and snapshot archives whose segment format
 * (`0/segments/points.jsonl`) only the stand-in understands. Every response carries the header
 * `x-qdrant-standin: true`, and `GET /` answers `"standin": true`.
 *
 * Layout: http.ts (server, routing, auth, envelope), routes.ts (endpoints), storage.ts (on-disk
 * state and snapshot archives), model.ts (schema validation), tar.ts, multipart.ts, errors.ts.
 */
import type { AddressInfo } from 'node:net';
import { createServer } from './http';
import { routes } from './routes';
import { Storage } from './storage';

export interface QdrantStandIn {
  url: string;
  port: number;
  dataDir: string;
  apiKey?: string;
  version: string;
  /** Closes the listener and open connections and waits for background (`wait=false`) work. */
  stop(): Promise<void>;
  /**
   * Test hook: makes the next snapshot listing/creation for this collection report a wrong checksum
   * (to test checksum mismatch handling). Whichever comes first consumes it: a creation writes the wrong
   * value into the `.checksum` sidecar (so that result and all later listings report it, like a corrupted
   * file on a real server); a listing reports a wrong checksum for every entry of that one response.
   */
  corruptNextSnapshotChecksum(collection: string): void;
  /** Test hook: the next `count` snapshot uploads fail with HTTP 500 after the body was received, collection untouched. */
  failNextUploads(count: number): void;
}

export interface QdrantStandInOptions {
  /** All state lives here; starting again with the same directory restores it. */
  dataDir: string;
  /** Defaults to a free port. The server listens on 127.0.0.1 only. */
  port?: number;
  /** When set, requests need `api-key: <key>` or `Authorization: Bearer <key>`, else 401. */
  apiKey?: string;
  /** Reported by `GET /` and written to snapshots' `version.info`. Default '1.15.5'. */
  version?: string;
}

export async function startQdrantStandIn(options: QdrantStandInOptions): Promise<QdrantStandIn> {
  const version = options.version ?? '1.15.5';
  const storage = new Storage(options.dataDir, version);
  const { server, drain } = createServer(routes(storage, version), options.apiKey);

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
    async stop() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await closed;
      await drain();
    },
    corruptNextSnapshotChecksum(collection: string) {
      storage.markNextSnapshotChecksumCorrupt(collection);
    },
    failNextUploads(count: number) {
      storage.failNextUploads(count);
    },
  };
}
