/**
 * The adapter's way to Qdrant: every JSON call (server info, collections, counts, aliases, snapshot
 * create/list/delete) through `@qdrant/js-client-rest`'s generated OpenAPI client, and the snapshot
 * download and upload through `SnapshotTransfer` (raw HTTP; snapshot-transfer.ts says why).
 *
 * The generated client is used rather than `QdrantClient`'s methods because only it takes a
 * `RequestInit` per call: the activity's cancellation signal reaches every request. Calls that wait
 * on server work (snapshot creation, exact counts, deleting a collection) have no time limit, the
 * others one of two minutes. The key travels in the `api-key` header only; messages name host:port.
 */
import type { IncomingMessage } from 'node:http';
import { QdrantClient } from '@qdrant/js-client-rest';
import type { Config } from '../../core/config';
import { storeUrl } from '../../core/config';
import type { Alias } from './collections-index';
import { QdrantHttpError, SnapshotTransfer } from './snapshot-transfer';

const QUICK_CALL_MS = 120_000;

type OpenApi = ReturnType<QdrantClient['api']>;
type Schemas = import('@qdrant/js-client-rest').Schemas;
export type SnapshotDescription = Schemas['SnapshotDescription'];
type CollectionInfo = Schemas['CollectionInfo'];
export type AliasAction = Schemas['AliasOperations'];

export interface QdrantConnection {
  /** host:port, for messages. */
  where: string;
  api: OpenApi;
  transfer: SnapshotTransfer;
}

export function qdrantConnection(config: Config): QdrantConnection {
  const url = new URL(storeUrl(config, 'qdrant'));
  const prefix = url.pathname.replace(/\/+$/, '');
  const apiKey = config.qdrant.apiKey;
  const client = new QdrantClient({
    url: url.origin,
    ...(prefix ? { prefix } : {}),
    // The key as a header, not `apiKey`: that option would switch an http:// URL to https.
    headers: apiKey ? { 'api-key': apiKey } : {},
    // No total timeout in the client: it would replace the cancellation signal each call carries.
    timeout: Number.POSITIVE_INFINITY,
    checkCompatibility: false,
  });
  const transfer = new SnapshotTransfer(url.href, apiKey);
  return { where: transfer.where, api: client.api(), transfer };
}

const statusOf = (error: unknown): number | undefined =>
  error instanceof Error && 'status' in error && typeof error.status === 'number' ? error.status : undefined;

/** Runs one generated-client call with the signal (and a time limit unless `long`); errors become one line naming host:port. */
async function call<T>(
  q: QdrantConnection,
  what: string,
  signal: AbortSignal | undefined,
  request: (init: RequestInit) => Promise<{ data: { result?: T } }>,
  long = false,
): Promise<T> {
  const signals = [...(signal ? [signal] : []), ...(long ? [] : [AbortSignal.timeout(QUICK_CALL_MS)])];
  const init: RequestInit = signals.length ? { signal: AbortSignal.any(signals) } : {};
  try {
    const { data } = await request(init);
    if (data.result === undefined) throw new QdrantHttpError(`Qdrant at ${q.where}: ${what}: the answer has no result`);
    return data.result;
  } catch (error) {
    if (error instanceof QdrantHttpError) throw error;
    const status = statusOf(error);
    if (status !== undefined) throw q.transfer.failure(what, status, 'data' in (error as object) ? (error as { data: unknown }).data : undefined);
    if (signal?.aborted) throw q.transfer.networkFailure(what, Object.assign(new Error('cancelled'), { name: 'AbortError' }));
    throw q.transfer.networkFailure(what, error);
  }
}

/** `GET /`: the server's version (what compatibility is judged by), and whether it is the test stand-in. */
export async function serverVersion(q: QdrantConnection, signal?: AbortSignal): Promise<{ version: string; standin: boolean }> {
  const signals = [...(signal ? [signal] : []), AbortSignal.timeout(QUICK_CALL_MS)];
  let info: Record<string, unknown>;
  try {
    info = (await q.api.root({}, { signal: AbortSignal.any(signals) })).data as Record<string, unknown>;
  } catch (error) {
    const status = statusOf(error);
    throw status !== undefined ? q.transfer.failure('GET /', status, undefined) : q.transfer.networkFailure('GET /', error);
  }
  if (typeof info.version !== 'string') throw new QdrantHttpError(`Qdrant at ${q.where}: GET / reports no version`);
  // `standin` is not in Qdrant's VersionInfo: only the test stand-in sends it.
  return { version: info.version, standin: info.standin === true };
}

export async function collectionNames(q: QdrantConnection, signal?: AbortSignal): Promise<string[]> {
  const result = await call(q, 'listing collections', signal, (init) => q.api.getCollections({}, init));
  return result.collections.map((c) => c.name).sort();
}

/** The collection's info, or undefined when it does not exist. */
export async function collectionInfo(q: QdrantConnection, name: string, signal?: AbortSignal): Promise<CollectionInfo | undefined> {
  try {
    return await call(q, `reading collection "${name}"`, signal, (init) => q.api.getCollection({ collection_name: name }, init));
  } catch (error) {
    if (error instanceof QdrantHttpError && error.status === 404) return undefined;
    throw error;
  }
}

/** Exact point count (`points_count` of the collection info is approximate). */
export async function exactCount(q: QdrantConnection, name: string, signal?: AbortSignal): Promise<number> {
  const result = await call(q, `counting points of "${name}"`, signal, (init) => q.api.countPoints({ collection_name: name, exact: true }, init), true);
  return result.count;
}

export async function deleteCollection(q: QdrantConnection, name: string, signal?: AbortSignal): Promise<void> {
  await call(q, `deleting collection "${name}"`, signal, (init) => q.api.deleteCollection({ collection_name: name }, init), true);
}

export async function aliasList(q: QdrantConnection, signal?: AbortSignal): Promise<Alias[]> {
  const result = await call(q, 'listing aliases', signal, (init) => q.api.getCollectionsAliases({}, init));
  return result.aliases.map((a) => ({ alias_name: a.alias_name, collection_name: a.collection_name }));
}

/** Sends `actions` in one request. A real Qdrant applies them one by one, each saved: a failure midway keeps the ones before it. */
export async function updateAliases(q: QdrantConnection, actions: AliasAction[], signal?: AbortSignal): Promise<void> {
  if (actions.length === 0) return;
  await call(q, 'updating aliases', signal, (init) => q.api.updateAliases({ actions }, init));
}

/** Creates a snapshot and waits for it without a time limit (large collections take long). */
export async function createSnapshot(q: QdrantConnection, name: string, signal?: AbortSignal): Promise<SnapshotDescription> {
  return call(q, `creating a snapshot of "${name}"`, signal, (init) => q.api.createSnapshot({ collection_name: name, wait: true }, init), true);
}

export async function listSnapshots(q: QdrantConnection, name: string, signal?: AbortSignal): Promise<SnapshotDescription[]> {
  return call(q, `listing snapshots of "${name}"`, signal, (init) => q.api.listSnapshots({ collection_name: name }, init));
}

/** Deletes a snapshot from the server; one that is already gone is fine. */
export async function deleteSnapshot(q: QdrantConnection, name: string, snapshot: string, signal?: AbortSignal): Promise<void> {
  try {
    await call(q, `deleting snapshot ${snapshot} of "${name}"`, signal, (init) =>
      q.api.deleteSnapshot({ collection_name: name, snapshot_name: snapshot, wait: true }, init),
    );
  } catch (error) {
    if (error instanceof QdrantHttpError && error.status === 404) return;
    throw error;
  }
}

const path = (...segments: string[]): string => segments.map((s) => `/${encodeURIComponent(s)}`).join('');

export function downloadSnapshot(q: QdrantConnection, name: string, snapshot: string, signal?: AbortSignal): Promise<IncomingMessage> {
  return q.transfer.download(path('collections', name, 'snapshots', snapshot), `downloading snapshot ${snapshot} of "${name}"`, signal);
}

/**
 * Recovers `name` from a local snapshot file: a streaming multipart upload with `priority=snapshot`
 * (the snapshot's data wins over any replica) and the checksum, which Qdrant checks before it touches
 * anything. Needs a full-access key (Qdrant answers 403 to any other).
 */
export async function uploadSnapshot(
  q: QdrantConnection,
  name: string,
  file: { path: string; size: number; sha256: string; uploadName: string },
  signal?: AbortSignal,
  onBytes?: (bytes: number) => void,
): Promise<void> {
  const result = await q.transfer.upload(`${path('collections', name)}/snapshots/upload`, `recovering collection "${name}" from an uploaded snapshot`, {
    query: { wait: 'true', priority: 'snapshot', checksum: file.sha256 },
    field: 'snapshot',
    fileName: file.uploadName,
    filePath: file.path,
    size: file.size,
    ...(signal ? { signal } : {}),
    ...(onBytes ? { onBytes } : {}),
  });
  if (result !== true) {
    throw new QdrantHttpError(`Qdrant at ${q.where}: recovering collection "${name}": the answer was ${JSON.stringify(result)}, not true`);
  }
}
