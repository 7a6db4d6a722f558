/**
 * safetySnapshot, rollback, release. The safety snapshot is the same snapshot loop as the backup
 * (snapshots.ts), each file downloaded into the restore's safety folder with collections.json written
 * last (its presence marks a complete one). Rollback puts that state back from whatever the restore
 * left: collections that did not exist are deleted, every recorded one recovered from its file,
 * aliases brought back from the server's current state (a restore that failed midway through its
 * alias changes included).
 */
import { mkdir, readFile, rm, rmdir } from 'node:fs/promises';
import { createWriteStream } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { ENCRYPTED_SUFFIX } from '../../core/compression';
import type { Config } from '../../core/config';
import type { ReleaseInput, RestoreSource, RollbackInput, SafetySnapshot } from '../../core/contract';
import { VerificationFailed } from '../repository/errors';
import { fsyncPath, safetyDirectory, scratchDirectory, writeDurably } from '../repository/sets';
import { dataFileName, isStoredAsIs, readDataFile } from '../data-file-streams';
import { recipientsOf, requireIdentityForFiles } from '../encryption';
import { fileModes } from '../file-modes';
import type { ProgressReporter } from '../heartbeat';
import { missingAliases, removeAliasesNamedLike, syncAliases } from './aliases';
import { collectionsIndex, INDEX_FILE, parseIndex, type CollectionsIndex } from './collections-index';
import { aliasList, collectionNames, deleteCollection, qdrantConnection, serverVersion } from './connection';
import { collectionsInScope, scopeOf } from './scope';
import { collectionDifferences, downloadSnapshotToFile, recoverCollection, ServerSnapshots, snapshotEach } from './snapshots';

const SAFETY_UPLOAD_PREFIX = 'scholaria-rollback';

export async function safetySnapshot(config: Config, input: RestoreSource, progress: ProgressReporter): Promise<SafetySnapshot> {
  const q = qdrantConnection(config);
  const signal = progress.signal;
  const dir = safetyDirectory(config.backupDir, input.restoreId, 'qdrant');
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true, mode: fileModes().directory });
  // Encrypted like a set when recipients are configured (the restoring worker holds the identity to roll back).
  const encoding = { recipients: await recipientsOf(config) };
  const { version } = await serverVersion(q, signal);
  const names = await collectionsInScope(q, config, signal, false);
  const aliases = await aliasList(q, signal);
  const onServer = new ServerSnapshots(q);
  let recorded;
  try {
    recorded = await snapshotEach(q, names, onServer, progress, async (name, description, i) => {
      progress.phase(`downloading snapshot of ${name}`);
      const file = dataFileName(`collection-${i}.snapshot`, encoding);
      const actual = await downloadSnapshotToFile(q, name, description, join(dir, file), progress, encoding);
      await onServer.delete(name, signal);
      return { file, ...actual };
    });
  } finally {
    await onServer.deleteAll();
  }
  const index = collectionsIndex(config, version, recorded, aliases);
  await writeDurably(join(dir, INDEX_FILE), `${JSON.stringify(index, null, 2)}\n`);
  await fsyncPath(dir);
  const points = recorded.reduce((sum, c) => sum + c.points, 0);
  return {
    description: `Qdrant ${version}: ${recorded.length} collections (${points} points) and ${aliases.length} aliases, as snapshot files`,
    references: { dir, collections: String(recorded.length), qdrantVersion: version },
  };
}

async function readSafetyIndex(dir: string): Promise<CollectionsIndex> {
  let text: string;
  try {
    text = await readFile(join(dir, INDEX_FILE), 'utf8');
  } catch (error) {
    throw new VerificationFailed(
      `the Qdrant safety snapshot in ${dir} is missing or incomplete (${(error as NodeJS.ErrnoException).code ?? 'unreadable'}); nothing to roll back to`,
    );
  }
  try {
    return parseIndex(text);
  } catch (error) {
    throw new VerificationFailed(`the Qdrant safety snapshot in ${dir}: ${(error as Error).message}`);
  }
}

export async function rollback(config: Config, input: RollbackInput, progress: ProgressReporter): Promise<void> {
  const dir = safetyDirectory(config.backupDir, input.restoreId, 'qdrant');
  const index = await readSafetyIndex(dir);
  requireIdentityForFiles(config, index.collections.map((c) => c.file));
  const q = qdrantConnection(config);
  const signal = progress.signal;
  const inScope = scopeOf(config);
  const before = new Set(index.collections.map((c) => c.name));

  progress.phase('deleting collections that did not exist before');
  for (const name of (await collectionNames(q, signal)).filter(inScope)) {
    if (!before.has(name)) await deleteCollection(q, name, signal);
  }
  await removeAliasesNamedLike(q, before, signal);
  const uploadName = `${SAFETY_UPLOAD_PREFIX}-${input.restoreId}.snapshot`;
  for (const collection of index.collections) {
    await withPlaintextSnapshot(config, join(dir, collection.file), input.restoreId, progress, (file) => recoverCollection(q, collection, file, uploadName, progress));
  }
  progress.phase('restoring aliases');
  const existing = new Set(await collectionNames(q, signal));
  const desired = index.aliases.filter((a) => existing.has(a.collection_name));
  await syncAliases(q, desired, (a) => before.has(a.collection_name), signal);

  progress.phase('checking the rolled back collections');
  const { problems } = await collectionDifferences(q, index.collections, signal);
  problems.push(...(await missingAliases(q, desired, signal)));
  if (problems.length) throw new VerificationFailed(`Qdrant at ${q.where} after the rollback: ${problems.join('; ')}`);
}

/** Runs `work` on the safety snapshot file itself, or, when it is encrypted, on a decrypted scratch copy (owner-only, removed afterwards). */
async function withPlaintextSnapshot<T>(config: Config, path: string, restoreId: string, progress: ProgressReporter, work: (file: string) => Promise<T>): Promise<T> {
  if (isStoredAsIs(basename(path))) return work(path);
  const scratch = join(scratchDirectory(config.backupDir), `qdrant-rollback-${restoreId}-${basename(path, ENCRYPTED_SUFFIX)}`);
  await mkdir(dirname(scratch), { recursive: true, mode: fileModes().directory });
  try {
    progress.phase(`decrypting ${basename(path)}`);
    await pipeline(readDataFile(path, config, progress.signal), createWriteStream(scratch, { mode: fileModes().file }));
    return await work(scratch);
  } finally {
    await rm(scratch, { force: true });
  }
}

export async function release(config: Config, input: ReleaseInput): Promise<void> {
  if (input.keep) return;
  const dir = safetyDirectory(config.backupDir, input.restoreId, 'qdrant');
  await rm(dir, { recursive: true, force: true });
  await rmdir(dirname(dir)).catch(() => undefined); // the restore's folder, once no store keeps anything there
}
