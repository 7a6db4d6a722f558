/**
 * Server-side steps shared by the verbs: downloading a snapshot with its checks, recovering a
 * collection from a local snapshot file (and removing the upload Qdrant keeps), bringing aliases to a
 * wanted state in one atomic request, and checking collections against what was recorded.
 */
import { Context } from '@temporalio/activity';
import { createWriteStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import { HashingTap } from '../repository/hashing';
import type { ProgressReporter } from '../heartbeat';
import type { AliasAction, QdrantClient, SnapshotDescription } from './client';
import { QdrantHttpError } from './http';
import { layoutOf, recordedDifferences, sameLayout, type Alias, type RecordedCollection } from './model';

/** Qdrant's reported checksum, normalised, or undefined when it reported none usable. */
export function reportedChecksum(description: SnapshotDescription): string | undefined {
  const value = description.checksum?.trim().toLowerCase();
  return value && /^[0-9a-f]{64}$/.test(value) ? value : undefined;
}

function activityAttempt(): number {
  try {
    return Context.current().info.attempt;
  } catch {
    return 1;
  }
}

/**
 * The error for a download that does not match what Qdrant reported. On the first attempt it is
 * retryable (the next attempt takes a fresh snapshot, and a transfer fault will not repeat); on a later
 * attempt it is `ChecksumMismatch`, which is not retried again.
 */
export function snapshotMismatch(
  collection: string,
  description: SnapshotDescription,
  actual: { bytes: number; sha256: string },
): Error {
  const what =
    actual.bytes !== description.size
      ? `${actual.bytes} bytes arrived, Qdrant reports ${description.size}`
      : `its sha256 is ${actual.sha256}, Qdrant reports ${reportedChecksum(description) ?? 'none'}`;
  const attempt = activityAttempt();
  const error = new Error(
    `collection "${collection}": the downloaded snapshot ${description.name} does not match Qdrant's checksum (${what})` +
      (attempt > 1 ? `; attempt ${attempt}, not retried again` : '; the next attempt takes a fresh snapshot'),
  );
  error.name = attempt > 1 ? 'ChecksumMismatch' : 'SnapshotChecksumMismatch';
  return error;
}

/** Streams a snapshot from the server into `path`, hashing it; checks its size, and its sha256 when Qdrant reported one. */
export async function downloadSnapshotToFile(
  api: QdrantClient,
  collection: string,
  description: SnapshotDescription,
  path: string,
  progress: ProgressReporter,
): Promise<{ bytes: number; sha256: string }> {
  const response = await api.downloadSnapshot(collection, description.name, progress.signal);
  checkContentLength(collection, description, response.headers['content-length']);
  const tap = new HashingTap((bytes) => progress.bytes(bytes));
  try {
    await pipeline(response, tap, createWriteStream(path), { signal: progress.signal });
  } catch (error) {
    await rm(path, { force: true });
    throw error;
  }
  const actual = { bytes: tap.bytes, sha256: tap.digest() };
  const expected = reportedChecksum(description);
  if (actual.bytes !== description.size || (expected !== undefined && actual.sha256 !== expected)) {
    await rm(path, { force: true });
    throw snapshotMismatch(collection, description, actual);
  }
  return actual;
}

export function checkContentLength(collection: string, description: SnapshotDescription, header: string | undefined): void {
  if (header !== undefined && Number(header) !== description.size) {
    throw new Error(
      `collection "${collection}": Qdrant sends ${header} bytes for snapshot ${description.name}, which it lists with ${description.size}`,
    );
  }
}

/** Deletes the snapshot Qdrant kept of an upload named `uploadName`, if it is there. */
export async function removeUploadedSnapshot(api: QdrantClient, collection: string, uploadName: string, signal?: AbortSignal): Promise<boolean> {
  let listed: SnapshotDescription[];
  try {
    listed = await api.listSnapshots(collection, signal);
  } catch (error) {
    if (error instanceof QdrantHttpError && error.status === 404) return false; // no such collection: nothing kept
    throw error;
  }
  if (!listed.some((s) => s.name === uploadName)) return false;
  await api.deleteSnapshot(collection, uploadName, signal);
  return true;
}

/**
 * Makes `recorded.name` hold the snapshot in `file`: deletes the collection first when its vectors
 * or shard layout differs (Qdrant refuses to recover over those), uploads with priority=snapshot and
 * the checksum, then deletes the copy Qdrant keeps of the upload (qdrant/qdrant#10207). Safe to
 * repeat: each run ends with the collection holding the snapshot.
 */
export async function recoverCollection(
  api: QdrantClient,
  recorded: Pick<RecordedCollection, 'name' | 'config' | 'sha256' | 'bytes'>,
  file: string,
  uploadName: string,
  progress: ProgressReporter,
): Promise<string> {
  const signal = progress.signal;
  const name = recorded.name;
  const existing = await api.collectionInfo(name, signal);
  let how = existing ? 'replaced' : 'created';
  if (existing && !sameLayout(existing.config, recorded.config)) {
    progress.phase(`deleting ${name} (vectors config differs)`);
    await api.deleteCollection(name, signal);
    how = 'deleted and recreated (its vectors config differed)';
  } else if (existing) {
    await removeUploadedSnapshot(api, name, uploadName, signal); // left by an interrupted earlier attempt
  }
  progress.phase(`uploading snapshot of ${name}`);
  try {
    await api.uploadSnapshot(name, { path: file, size: recorded.bytes, sha256: recorded.sha256, uploadName }, signal, (bytes) =>
      progress.bytes(bytes),
    );
  } finally {
    // Without a signal: the upload's copy must go even when this run is being cancelled.
    await removeUploadedSnapshot(api, name, uploadName).catch(() => undefined);
  }
  return `${name}: ${how} from its snapshot (${recorded.bytes} bytes, sha256 checked by Qdrant)`;
}

/**
 * Brings aliases to `desired` in one request (Qdrant applies one request's actions atomically):
 * removes aliases that are `managed` or named like a desired one but not desired, creates the missing.
 * Returns one line per change.
 */
export async function syncAliases(
  api: QdrantClient,
  desired: readonly Alias[],
  managed: (alias: Alias) => boolean,
  signal?: AbortSignal,
): Promise<string[]> {
  const current = await api.aliases(signal);
  const key = (a: Alias): string => `${a.alias_name}\u0000${a.collection_name}`;
  const wanted = new Set(desired.map(key));
  const wantedNames = new Set(desired.map((a) => a.alias_name));
  const present = new Set(current.map(key));
  const actions: AliasAction[] = [];
  const lines: string[] = [];
  for (const alias of current) {
    if ((managed(alias) || wantedNames.has(alias.alias_name)) && !wanted.has(key(alias))) {
      actions.push({ delete_alias: { alias_name: alias.alias_name } });
      lines.push(`removed alias ${alias.alias_name} → ${alias.collection_name}`);
    }
  }
  for (const alias of desired) {
    if (!present.has(key(alias))) {
      actions.push({ create_alias: { alias_name: alias.alias_name, collection_name: alias.collection_name } });
      lines.push(`created alias ${alias.alias_name} → ${alias.collection_name}`);
    }
  }
  await api.updateAliases(actions, signal);
  return lines;
}

/** Removes aliases named like one of `collections`, which would otherwise redirect a recovery. */
export async function removeAliasesNamedLike(api: QdrantClient, collections: ReadonlySet<string>, signal?: AbortSignal): Promise<string[]> {
  const clashing = (await api.aliases(signal)).filter((a) => collections.has(a.alias_name));
  await api.updateAliases(
    clashing.map((a) => ({ delete_alias: { alias_name: a.alias_name } })),
    signal,
  );
  return clashing.map((a) => `removed alias ${a.alias_name} → ${a.collection_name} (a collection of that name is restored)`);
}

/** Differences between the live collections and what was recorded: existence, status, layout, exact counts. */
export async function collectionDifferences(
  api: QdrantClient,
  recorded: readonly Pick<RecordedCollection, 'name' | 'config' | 'points'>[],
  signal?: AbortSignal,
): Promise<string[]> {
  const problems: string[] = [];
  for (const collection of recorded) {
    const info = await api.collectionInfo(collection.name, signal);
    if (!info) {
      problems.push(`collection ${collection.name} does not exist`);
      continue;
    }
    if (info.status === 'red') problems.push(`collection ${collection.name} has status red`);
    for (const difference of recordedDifferences(layoutOf(collection.config), layoutOf(info.config))) {
      problems.push(`collection ${collection.name}: ${difference}`);
    }
    const points = await api.count(collection.name, signal);
    if (points !== collection.points) problems.push(`collection ${collection.name}: ${points} points, ${collection.points} expected`);
  }
  return problems;
}

/** Aliases of `desired` that are not on the server. */
export async function missingAliases(api: QdrantClient, desired: readonly Alias[], signal?: AbortSignal): Promise<string[]> {
  const current = new Set((await api.aliases(signal)).map((a) => `${a.alias_name}\u0000${a.collection_name}`));
  return desired
    .filter((a) => !current.has(`${a.alias_name}\u0000${a.collection_name}`))
    .map((a) => `alias ${a.alias_name} → ${a.collection_name} is missing`);
}
