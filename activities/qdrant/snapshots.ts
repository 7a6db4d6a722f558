/**
 * Collection snapshots on the server: the one loop that takes them (backup and safety snapshot
 * alike), the download with its checks, the recovery of a collection from a local snapshot file, and
 * the check of restored collections against what was recorded.
 */
import { Context } from '@temporalio/activity';
import { createWriteStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import { encodingStages, type DataFileEncoding } from '../data-file-streams';
import { fileModes } from '../file-modes';
import { HashingTap } from '../repository/hashing';
import type { ProgressReporter } from '../heartbeat';
import type { RecordedCollection } from './collections-index';
import { configDifferences } from './comparison';
import {
  collectionInfo,
  createSnapshot,
  deleteCollection,
  deleteSnapshot,
  downloadSnapshot,
  exactCount,
  listSnapshots,
  uploadSnapshot,
  type QdrantConnection,
  type SnapshotDescription,
} from './connection';
import { QdrantHttpError } from './snapshot-transfer';

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
export function snapshotMismatch(collection: string, description: SnapshotDescription, actual: { bytes: number; sha256: string }): Error {
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

export function checkContentLength(collection: string, description: SnapshotDescription, header: string | undefined): void {
  if (header !== undefined && Number(header) !== description.size) {
    throw new Error(`collection "${collection}": Qdrant sends ${header} bytes for snapshot ${description.name}, which it lists with ${description.size}`);
  }
}

/** Streams a snapshot from the server into `path`, hashing it; checks its size, and its sha256 when Qdrant reported one. */
export async function downloadSnapshotToFile(
  q: QdrantConnection,
  collection: string,
  description: SnapshotDescription,
  path: string,
  progress: ProgressReporter,
  encoding: DataFileEncoding = { recipients: [] },
): Promise<{ bytes: number; sha256: string }> {
  const response = await downloadSnapshot(q, collection, description.name, progress.signal);
  checkContentLength(collection, description, response.headers['content-length']);
  // Hashed as downloaded, before any encryption: the snapshot's own size and sha256, which Qdrant checks on upload.
  const tap = new HashingTap((bytes) => progress.bytes(bytes));
  try {
    await pipeline([response, tap, ...encodingStages(encoding, progress.signal), createWriteStream(path, { mode: fileModes().file })], { signal: progress.signal });
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

/** Snapshots made on the server and not yet deleted there, by collection. */
export class ServerSnapshots {
  private readonly made = new Map<string, string>();

  constructor(private readonly q: QdrantConnection) {}

  add(collection: string, snapshot: string): void {
    this.made.set(collection, snapshot);
  }

  async delete(collection: string, signal?: AbortSignal): Promise<void> {
    const snapshot = this.made.get(collection);
    if (snapshot === undefined) return;
    await deleteSnapshot(this.q, collection, snapshot, signal);
    this.made.delete(collection);
  }

  /** Deletes every one left, without a signal (also when the run is being cancelled); returns the failures. */
  async deleteAll(): Promise<string[]> {
    const failures: string[] = [];
    for (const collection of [...this.made.keys()]) {
      await this.delete(collection).catch((error: Error) => failures.push(`the snapshot of ${collection} could not be deleted from the server: ${error.message}`));
    }
    return failures;
  }
}

/** Where a taken snapshot's bytes went (a file, or an archive entry still to be streamed) and their digest. */
export interface KeptSnapshot {
  file: string;
  sha256: string;
  bytes: number;
}

/**
 * The snapshot loop of the backup and of the safety snapshot: for each collection, its info, an exact
 * count before and after a snapshot made on the server (recorded as a range when writes ran meanwhile),
 * and `keep`, which decides where the snapshot's bytes go. Every snapshot made is in `onServer`.
 */
export async function snapshotEach(
  q: QdrantConnection,
  names: readonly string[],
  onServer: ServerSnapshots,
  progress: ProgressReporter,
  keep: (collection: string, description: SnapshotDescription, index: number) => Promise<KeptSnapshot>,
): Promise<RecordedCollection[]> {
  const signal = progress.signal;
  const recorded: RecordedCollection[] = [];
  for (const [i, name] of names.entries()) {
    progress.phase(`creating snapshot of ${name}`);
    const info = await collectionInfo(q, name, signal);
    if (!info) throw new Error(`collection "${name}" disappeared from Qdrant at ${q.where} while its snapshot was taken`);
    const before = await exactCount(q, name, signal);
    const description = await createSnapshot(q, name, signal);
    onServer.add(name, description.name);
    const after = await exactCount(q, name, signal);
    const kept = await keep(name, description, i);
    recorded.push({
      name,
      file: kept.file,
      serverSnapshot: description.name,
      sha256: kept.sha256,
      bytes: kept.bytes,
      qdrantChecksum: description.checksum ?? null,
      points: after,
      ...(before !== after ? { pointsRange: [Math.min(before, after), Math.max(before, after)] as [number, number] } : {}),
      config: { ...info.config },
      payloadSchema: info.payload_schema ?? {},
    });
  }
  return recorded;
}

/** Deletes the snapshot Qdrant kept of an upload named `uploadName`, if it is there. */
async function removeUploadedSnapshot(q: QdrantConnection, collection: string, uploadName: string, signal?: AbortSignal): Promise<void> {
  let listed: SnapshotDescription[];
  try {
    listed = await listSnapshots(q, collection, signal);
  } catch (error) {
    if (error instanceof QdrantHttpError && error.status === 404) return; // no such collection: nothing kept
    throw error;
  }
  if (listed.some((s) => s.name === uploadName)) await deleteSnapshot(q, collection, uploadName, signal);
}

/**
 * Makes `recorded.name` hold the snapshot in `file`, config included: deletes the collection first
 * (recovering into an existing collection, Qdrant replaces only the shard data and keeps the live
 * HNSW, optimizer, quantization, WAL and strict-mode settings and payload indexes), then uploads with
 * priority=snapshot and the checksum, so Qdrant recreates the collection from the snapshot's own
 * config; then deletes the copy Qdrant keeps of the upload (qdrant/qdrant#10207). An upload that fails
 * after Qdrant created the collection leaves it behind: it is deleted, so a retry starts clean.
 */
export async function recoverCollection(
  q: QdrantConnection,
  recorded: Pick<RecordedCollection, 'name' | 'sha256' | 'bytes'>,
  file: string,
  uploadName: string,
  progress: ProgressReporter,
): Promise<string> {
  const signal = progress.signal;
  const name = recorded.name;
  const existed = (await collectionInfo(q, name, signal)) !== undefined;
  if (existed) {
    progress.phase(`deleting ${name} before its recovery`);
    await deleteCollection(q, name, signal);
  }
  progress.phase(`uploading snapshot of ${name}`);
  try {
    await uploadSnapshot(q, name, { path: file, size: recorded.bytes, sha256: recorded.sha256, uploadName }, signal, (bytes) => progress.bytes(bytes));
  } catch (error) {
    // Without the signal: what a failed recovery left must go even when this run is being cancelled.
    await deleteCollection(q, name).catch(() => undefined);
    throw error;
  } finally {
    await removeUploadedSnapshot(q, name, uploadName).catch(() => undefined);
  }
  return `${name}: ${existed ? 'deleted and recreated' : 'created'} from its snapshot, with the snapshot's config (${recorded.bytes} bytes, sha256 checked by Qdrant)`;
}

/** The live point counts, and the differences between the live collections and what was recorded: existence, status, config, payload indexes, counts. */
export async function collectionDifferences(
  q: QdrantConnection,
  recorded: readonly Pick<RecordedCollection, 'name' | 'config' | 'payloadSchema' | 'points' | 'pointsRange'>[],
  signal?: AbortSignal,
): Promise<{ problems: string[]; counts: Record<string, number> }> {
  const problems: string[] = [];
  const counts: Record<string, number> = {};
  for (const collection of recorded) {
    const info = await collectionInfo(q, collection.name, signal);
    if (!info) {
      problems.push(`collection ${collection.name} does not exist`);
      continue;
    }
    if (info.status === 'red') problems.push(`collection ${collection.name} has status red`);
    for (const difference of configDifferences(collection, info)) problems.push(`collection ${collection.name}: ${difference}`);
    const points = await exactCount(q, collection.name, signal);
    counts[collection.name] = points;
    const [low, high] = collection.pointsRange ?? [collection.points, collection.points];
    if (points < low || points > high) {
      problems.push(`collection ${collection.name}: ${points} points, ${low === high ? low : `${low} to ${high}`} expected`);
    }
  }
  return { problems, counts };
}
