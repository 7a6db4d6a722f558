/**
 * The few Qdrant REST calls the adapter makes, typed after Qdrant's OpenAPI schema, over `QdrantHttp`.
 * Paths and parameters: https://api.qdrant.tech (collections, points/count, aliases, snapshots).
 */
import type { IncomingMessage } from 'node:http';
import type { Config } from '../../core/config';
import { storeUrl } from '../../core/config';
import { QdrantHttp, QdrantHttpError } from './http';
import type { Alias } from './model';

/** SnapshotDescription: `checksum` is the sha256 of the whole file; absent for uploaded or old snapshots. */
export interface SnapshotDescription {
  name: string;
  creation_time?: string | null;
  size: number;
  checksum?: string | null;
}

/** CollectionInfo, the parts the adapter reads. */
export interface CollectionInfo {
  status?: string;
  optimizer_status?: unknown;
  points_count?: number | null;
  config: Record<string, unknown>;
  payload_schema?: unknown;
}

export type AliasAction =
  | { create_alias: { collection_name: string; alias_name: string } }
  | { delete_alias: { alias_name: string } };

const path = (...segments: string[]): string => segments.map((s) => `/${encodeURIComponent(s)}`).join('');

export class QdrantClient {
  constructor(readonly http: QdrantHttp) {}

  get where(): string {
    return this.http.where;
  }

  /** `GET /`: `{title, version, commit?}`. */
  async version(signal?: AbortSignal): Promise<{ version: string; standin: boolean }> {
    const info = await this.http.json<{ version?: unknown; standin?: unknown }>('GET', '/', 'GET /', { signal });
    if (typeof info.version !== 'string') throw new QdrantHttpError(`Qdrant at ${this.where}: GET / reports no version`);
    return { version: info.version, standin: info.standin === true };
  }

  async collections(signal?: AbortSignal): Promise<string[]> {
    const result = await this.http.json<{ collections: { name: string }[] }>('GET', '/collections', 'listing collections', { signal });
    return result.collections.map((c) => c.name).sort();
  }

  /** The collection's info, or undefined when it does not exist. */
  async collectionInfo(name: string, signal?: AbortSignal): Promise<CollectionInfo | undefined> {
    try {
      return await this.http.json<CollectionInfo>('GET', path('collections', name), `reading collection "${name}"`, { signal });
    } catch (error) {
      if (error instanceof QdrantHttpError && error.status === 404) return undefined;
      throw error;
    }
  }

  /** Exact point count (`points_count` of the collection info is approximate). */
  async count(name: string, signal?: AbortSignal): Promise<number> {
    const result = await this.http.json<{ count: number }>('POST', `${path('collections', name)}/points/count`, `counting points of "${name}"`, {
      body: { exact: true },
      signal,
      idleMs: 0,
    });
    return result.count;
  }

  async deleteCollection(name: string, signal?: AbortSignal): Promise<void> {
    await this.http.json<boolean>('DELETE', path('collections', name), `deleting collection "${name}"`, { signal, idleMs: 0 });
  }

  async aliases(signal?: AbortSignal): Promise<Alias[]> {
    const result = await this.http.json<{ aliases: Alias[] }>('GET', '/aliases', 'listing aliases', { signal });
    return result.aliases.map((a) => ({ alias_name: a.alias_name, collection_name: a.collection_name }));
  }

  /** Applies all actions in one request: Qdrant changes aliases atomically per request. */
  async updateAliases(actions: AliasAction[], signal?: AbortSignal): Promise<void> {
    if (actions.length === 0) return;
    await this.http.json<boolean>('POST', '/collections/aliases', 'updating aliases', { body: { actions }, signal });
  }

  /** Creates a snapshot and waits for it without a time limit (large collections take long). */
  async createSnapshot(name: string, signal?: AbortSignal): Promise<SnapshotDescription> {
    return this.http.json<SnapshotDescription>('POST', `${path('collections', name)}/snapshots`, `creating a snapshot of "${name}"`, {
      query: { wait: 'true' },
      signal,
      idleMs: 0,
    });
  }

  async listSnapshots(name: string, signal?: AbortSignal): Promise<SnapshotDescription[]> {
    return this.http.json<SnapshotDescription[]>('GET', `${path('collections', name)}/snapshots`, `listing snapshots of "${name}"`, { signal });
  }

  /** Deletes a snapshot from the server; one that is already gone is fine. */
  async deleteSnapshot(name: string, snapshot: string, signal?: AbortSignal): Promise<void> {
    try {
      await this.http.json<boolean>('DELETE', path('collections', name, 'snapshots', snapshot), `deleting snapshot ${snapshot} of "${name}"`, {
        query: { wait: 'true' },
        signal,
      });
    } catch (error) {
      if (error instanceof QdrantHttpError && error.status === 404) return;
      throw error;
    }
  }

  downloadSnapshot(name: string, snapshot: string, signal?: AbortSignal): Promise<IncomingMessage> {
    return this.http.download(path('collections', name, 'snapshots', snapshot), `downloading snapshot ${snapshot} of "${name}"`, signal);
  }

  /**
   * Recovers (or creates) `name` from a local snapshot file: streaming multipart upload with
   * `priority=snapshot` (the snapshot's data wins over any replica) and the checksum, which Qdrant
   * checks before it touches the collection.
   */
  async uploadSnapshot(
    name: string,
    file: { path: string; size: number; sha256: string; uploadName: string },
    signal?: AbortSignal,
    onBytes?: (bytes: number) => void,
  ): Promise<void> {
    const result = await this.http.upload(`${path('collections', name)}/snapshots/upload`, `recovering collection "${name}" from an uploaded snapshot`, {
      query: { wait: 'true', priority: 'snapshot', checksum: file.sha256 },
      field: 'snapshot',
      fileName: file.uploadName,
      filePath: file.path,
      size: file.size,
      ...(signal ? { signal } : {}),
      ...(onBytes ? { onBytes } : {}),
    });
    if (result !== true) {
      throw new QdrantHttpError(`Qdrant at ${this.where}: recovering collection "${name}": the answer was ${JSON.stringify(result)}, not true`);
    }
  }
}

export function qdrantClient(config: Config): QdrantClient {
  return new QdrantClient(new QdrantHttp(storeUrl(config, 'qdrant'), config.qdrant.apiKey));
}
