/**
 * Qdrant adapter. Backup: one snapshot per collection through the REST API, each streamed from the
 * server straight into the set's `qdrant_<stamp>/qdrant_snapshot.tar.gz` while its sha256 is checked
 * against the one Qdrant reports, then deleted from the server; `collections.json` (configs, exact
 * point counts, aliases, versions, checksums) is the archive's first entry. Verify: the archive is read
 * to its end and every snapshot inside is walked as a tar. Restore: each snapshot is uploaded with a
 * streaming multipart POST (`priority=snapshot`, checksum), collections not in the set are deleted,
 * aliases are set in one atomic request, and the result is checked against collections.json.
 * Safety snapshots are the same snapshots, kept as files in the restore's safety folder.
 *
 * QDRANT_COLLECTIONS, when set, limits every verb to those collections: nothing else is read,
 * restored or deleted. The API key only ever travels in the `api-key` header.
 */
import { once } from 'node:events';
import { createReadStream, createWriteStream, type WriteStream } from 'node:fs';
import { mkdir, readdir, readFile, rm, rmdir, statfs } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Config } from '../../core/config';
import type {
  PreflightReport,
  RestoreSource,
  RollbackInput,
  SafetySnapshot,
  StagedSet,
  StoreAdapter,
  StoreBackupResult,
  StoreProbe,
  StoreRestoreInput,
  StoreRestoreResult,
  StoreVerifyInput,
  StoreVerifyResult,
  ReleaseInput,
} from '../../core/contract';
import { summaryDifferences, type ContentSummary, type FileEntry } from '../../core/manifest';
import { VerificationFailed } from '../repository/errors';
import { fsyncPath, safetyDirectory, scratchDirectory, setDirectory, writeDurably } from '../repository/sets';
import { withProgress, type ProgressReporter } from '../heartbeat';
import {
  archiveFileName,
  ARCHIVE_ROLE,
  ArchiveFormatError,
  readArchive,
  snapshotEntryName,
  writeArchive,
  type ArchiveSource,
  type SnapshotFacts,
} from './archive';
import { qdrantClient, type QdrantClient } from './client';
import {
  INDEX_FILE,
  INDEX_FORMAT,
  describeAliases,
  parseIndex,
  sameLayout,
  scopeOf,
  versionProblem,
  type Alias,
  type CollectionsIndex,
  type RecordedCollection,
} from './model';
import {
  checkContentLength,
  collectionDifferences,
  downloadSnapshotToFile,
  missingAliases,
  recoverCollection,
  removeAliasesNamedLike,
  reportedChecksum,
  snapshotMismatch,
  syncAliases,
} from './operations';

export { ARCHIVE_ROLE as QDRANT_FILE_ROLE } from './archive';

/** `qdrant_<stamp>`, the set's Qdrant folder, as the specification names it. */
export function qdrantFolderName(stamp: string): string {
  return `qdrant_${stamp}`;
}

export function createQdrantAdapter(config: Config): StoreAdapter {
  return {
    probe: () => probe(config),
    backup: ({ set }) => withProgress((progress) => backup(config, set, progress)),
    verify: (input) => withProgress((progress) => verify(config, input, progress)),
    preflight: (input) => withProgress((progress) => preflight(config, input, progress)),
    safetySnapshot: (input) => withProgress((progress) => safetySnapshot(config, input, progress)),
    restore: (input) => withProgress((progress) => restore(config, input, progress)),
    summarize: () => withProgress((progress) => summarize(config, progress)),
    rollback: (input) => withProgress((progress) => rollback(config, input, progress)),
    release: (input) => release(config, input),
  };
}

class IncompatibleVersion extends Error {
  override name = 'IncompatibleVersion';
}

// ---- probe ----------------------------------------------------------------------------------

async function probe(config: Config): Promise<StoreProbe> {
  const api = qdrantClient(config);
  const { version, standin } = await api.version();
  const collections = await api.collections();
  const details = [`Qdrant ${version} at ${api.where}${standin ? ' (the test stand-in, not a real Qdrant)' : ''}`];
  const configured = config.qdrant.collections;
  if (configured?.length) {
    const missing = configured.filter((name) => !collections.includes(name));
    details.push(`QDRANT_COLLECTIONS: ${configured.join(', ')}${missing.length ? ` (missing on the server: ${missing.join(', ')})` : ''}`);
  } else {
    details.push(`${collections.length} collections`);
  }
  return { serverVersion: version, details };
}

/** The collections a verb works on: all of the server's, or QDRANT_COLLECTIONS (each must exist when `strict`). */
async function collectionsInScope(api: QdrantClient, config: Config, signal: AbortSignal, strict: boolean): Promise<string[]> {
  const all = await api.collections(signal);
  const configured = config.qdrant.collections;
  if (!configured?.length) return all;
  const missing = configured.filter((name) => !all.includes(name));
  if (strict && missing.length > 0) {
    const error = new Error(`QDRANT_COLLECTIONS names ${missing.map((m) => `"${m}"`).join(', ')}, not found on Qdrant at ${api.where}`);
    error.name = 'ConfigError';
    throw error;
  }
  return configured.filter((name) => all.includes(name));
}

// ---- backup ---------------------------------------------------------------------------------

async function backup(config: Config, set: StagedSet, progress: ProgressReporter): Promise<StoreBackupResult> {
  const api = qdrantClient(config);
  const signal = progress.signal;
  const folder = qdrantFolderName(set.stamp);
  const dir = join(setDirectory(config.backupDir, set.name, 'staging'), folder);
  const archiveFile = archiveFileName(config.compression);
  const archivePath = join(dir, archiveFile);

  const { version } = await api.version(signal);
  const names = await collectionsInScope(api, config, signal, true);
  const aliases = await api.aliases(signal);
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  const notes: string[] = [];
  /** Snapshots made on the server and not yet deleted there. */
  const onServer = new Map<string, string>();
  const deleteFromServer = async (collection: string, keepSignal = true): Promise<void> => {
    const snapshot = onServer.get(collection);
    if (snapshot === undefined) return;
    await api.deleteSnapshot(collection, snapshot, keepSignal ? signal : undefined);
    onServer.delete(collection);
  };

  try {
    // Every snapshot is made first, back to back (the collections' points in time stay close), so that
    // collections.json, with each snapshot's size and sha256, can be the archive's first entry.
    const recorded: RecordedCollection[] = [];
    const sources: ArchiveSource[] = [];
    await progress.timed('creating snapshots', async () => {
      for (const [i, name] of names.entries()) {
        progress.phase(`creating snapshot of ${name}`);
        const info = await api.collectionInfo(name, signal);
        if (!info) throw new Error(`collection "${name}" disappeared from Qdrant at ${api.where} during the backup`);
        const description = await api.createSnapshot(name, signal);
        onServer.set(name, description.name);
        const points = await api.count(name, signal);
        let sha256 = reportedChecksum(description);
        let source: ArchiveSource;
        if (sha256 === undefined) {
          // Without Qdrant's checksum the sha256 must be known before the archive starts: fetch the file first.
          notes.push(`Qdrant reported no checksum for the snapshot of ${name}; its sha256 was computed from the download`);
          progress.phase(`downloading snapshot of ${name}`);
          const file = join(dir, `.download-${i}.snapshot`);
          sha256 = (await downloadSnapshotToFile(api, name, description, file, progress)).sha256;
          await deleteFromServer(name);
          source = fileSource(file, name, description.size, sha256);
        } else {
          const expected = sha256;
          source = {
            entryName: snapshotEntryName(name),
            size: description.size,
            sha256: expected,
            open: async () => {
              progress.phase(`downloading snapshot of ${name}`);
              const response = await api.downloadSnapshot(name, description.name, signal);
              checkContentLength(name, description, response.headers['content-length']);
              return response;
            },
            mismatch: (actual) => snapshotMismatch(name, description, actual),
            done: () => deleteFromServer(name).catch(() => undefined), // retried, and noted, after the archive
          };
        }
        sources.push(source);
        recorded.push({
          name,
          file: snapshotEntryName(name),
          serverSnapshot: description.name,
          sha256,
          bytes: description.size,
          qdrantChecksum: description.checksum ?? null,
          points,
          config: info.config,
          payloadSchema: info.payload_schema ?? {},
        });
      }
    });
    const index = collectionsIndex(config, version, recorded, aliases);
    const written = await progress.timed('downloading snapshots', () =>
      writeArchive(archivePath, index, sources, { compression: config.compression, signal, onSnapshotBytes: (_entry, bytes) => progress.bytes(bytes) }),
    );
    await fsyncPath(archivePath);
    await fsyncPath(dir);
    for (const collection of [...onServer.keys()]) {
      await deleteFromServer(collection).catch((error: Error) => {
        notes.push(`the snapshot of ${collection} could not be deleted from the server: ${error.message}`);
      });
    }
    const points = recorded.reduce((sum, c) => sum + c.points, 0);
    notes.unshift(
      names.length === 0
        ? 'Qdrant has no collections: the archive holds only collections.json'
        : `${names.length} collections, ${points} points; snapshots of Qdrant ${version}, checked against Qdrant's sha256 and deleted from the server`,
      aliases.length ? `aliases: ${describeAliases(aliases)}` : 'no aliases',
    );
    const file: FileEntry = { name: `${folder}/${archiveFile}`, bytes: written.bytes, sha256: written.sha256, role: ARCHIVE_ROLE };
    return {
      serverVersion: version,
      files: [file],
      summary: { unit: 'points', counts: Object.fromEntries(recorded.map((c) => [c.name, c.points])) },
      notes,
      phases: progress.timings,
    };
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw error;
  } finally {
    // Nothing made here stays on the server, whatever failed (without the signal: also when cancelled).
    for (const collection of [...onServer.keys()]) await deleteFromServer(collection, false).catch(() => undefined);
    await rmScratchDownloads(dir);
  }
}

function fileSource(path: string, collection: string, size: number, sha256: string): ArchiveSource {
  return {
    entryName: snapshotEntryName(collection),
    size,
    sha256,
    open: async () => createReadStream(path, { highWaterMark: 1 << 20 }),
    mismatch: (actual) =>
      new Error(`collection "${collection}": the downloaded snapshot changed on disk (${actual.bytes} bytes, sha256 ${actual.sha256})`),
    done: () => rm(path, { force: true }),
  };
}

async function rmScratchDownloads(dir: string): Promise<void> {
  const entries = await readdir(dir).catch(() => [] as string[]);
  await Promise.all(entries.filter((e) => e.startsWith('.download-')).map((e) => rm(join(dir, e), { force: true })));
}

// ---- verify ---------------------------------------------------------------------------------

function archiveFileOf(files: readonly FileEntry[]): FileEntry {
  const file = files.find((entry) => entry.role === ARCHIVE_ROLE);
  if (!file) throw new VerificationFailed('the set has no Qdrant archive');
  return file;
}

/** Archive problems become VerificationFailed naming the file; other errors pass unchanged. */
function asVerificationFailed(fileName: string, error: unknown): unknown {
  return error instanceof ArchiveFormatError ? new VerificationFailed(`${fileName}: ${error.message}`) : error;
}

async function verify(config: Config, input: StoreVerifyInput, progress: ProgressReporter): Promise<StoreVerifyResult> {
  const file = archiveFileOf(input.files);
  const path = join(setDirectory(config.backupDir, input.setName, input.location), file.name);
  progress.phase('reading the Qdrant archive');
  let contents;
  try {
    contents = await readArchive(path, { signal: progress.signal, onBytes: (bytes) => progress.bytes(bytes) });
  } catch (error) {
    throw asVerificationFailed(file.name, error);
  }
  const { index, snapshots, archive } = contents;
  const fail = (why: string): never => {
    throw new VerificationFailed(`${file.name}: ${why}`);
  };
  if (archive.bytes !== file.bytes || archive.sha256 !== file.sha256) {
    fail(`${archive.bytes} bytes with sha256 ${archive.sha256}, the manifest records ${file.bytes} bytes with ${file.sha256}`);
  }
  const checks = [`${file.name}: decompressed and read to the end as a tar; ${INDEX_FILE} lists ${index.collections.length} collections`];
  const listed = new Set(index.collections.map((c) => c.file));
  for (const entry of snapshots.keys()) if (!listed.has(entry)) fail(`${entry} is not listed in ${INDEX_FILE}`);
  for (const collection of index.collections) {
    const facts = snapshots.get(collection.file);
    if (!facts) fail(`the snapshot of ${collection.name} (${collection.file}) is missing`);
    checkSnapshotFacts(file.name, collection, facts!);
    checks.push(
      `${collection.name}: snapshot of ${facts!.bytes} bytes matches its sha256, a complete tar of ${facts!.entries} entries, ` +
        `version.info ${facts!.versionInfo}, ${collection.points} points recorded`,
    );
  }
  checks.push(index.aliases.length ? `aliases recorded: ${describeAliases(index.aliases)}` : 'no aliases recorded');
  return { checks, summary: summaryOfIndex(index) };
}

function checkSnapshotFacts(fileName: string, collection: RecordedCollection, facts: SnapshotFacts): void {
  if (facts.bytes !== collection.bytes || facts.sha256 !== collection.sha256) {
    throw new VerificationFailed(
      `${fileName}: the snapshot of ${collection.name} has ${facts.bytes} bytes with sha256 ${facts.sha256}; ` +
        `${INDEX_FILE} records ${collection.bytes} bytes with ${collection.sha256}`,
    );
  }
}

function summaryOfIndex(index: CollectionsIndex, only?: (name: string) => boolean): ContentSummary {
  return {
    unit: 'points',
    counts: Object.fromEntries(index.collections.filter((c) => !only || only(c.name)).map((c) => [c.name, c.points])),
  };
}

// ---- preflight ------------------------------------------------------------------------------

async function readSetIndex(config: Config, input: RestoreSource, signal: AbortSignal): Promise<{ file: FileEntry; path: string; index: CollectionsIndex }> {
  const file = archiveFileOf(input.files);
  const path = join(setDirectory(config.backupDir, input.setName, 'sealed'), file.name);
  try {
    const { index } = await readArchive(path, { signal, indexOnly: true });
    return { file, path, index };
  } catch (error) {
    throw asVerificationFailed(file.name, error);
  }
}

async function preflight(config: Config, input: RestoreSource, progress: ProgressReporter): Promise<PreflightReport> {
  const signal = progress.signal;
  progress.phase(`reading ${INDEX_FILE}`);
  const { file, index } = await readSetIndex(config, input, signal);
  const problems: string[] = [];
  const details: string[] = [];
  const plan: string[] = [];
  const current: ContentSummary = { unit: 'points', counts: {} };
  const manifestDifferences = summaryDifferences(input.summary, summaryOfIndex(index));
  if (manifestDifferences.length) problems.push(`${file.name}: ${INDEX_FILE} does not match the manifest: ${manifestDifferences.join('; ')}`);

  const api = qdrantClient(config);
  progress.phase('reading the target');
  let target: { version: string; standin: boolean };
  let live: string[];
  try {
    target = await api.version(signal);
    live = await api.collections(signal);
  } catch (error) {
    problems.push(`the Qdrant API is not usable: ${(error as Error).message}`);
    return { problems, current, details, plan };
  }
  const inScope = scopeOf(config);
  const version = versionProblem(index.qdrantVersion, target.version);
  if (version) problems.push(version);
  const restoring = index.collections.filter((c) => inScope(c.name));
  const setBytes = restoring.reduce((sum, c) => sum + c.bytes, 0);
  const largest = restoring.reduce((max, c) => Math.max(max, c.bytes), 0);
  details.push(
    `target: Qdrant ${target.version} at ${api.where}${target.standin ? ' (the test stand-in, not a real Qdrant)' : ''}`,
    `the set: Qdrant ${index.qdrantVersion}, ${index.collections.length} collections, ` +
      `${index.collections.reduce((sum, c) => sum + c.points, 0)} points, ${setBytes} bytes of snapshots, made ${index.createdAt}`,
    `Qdrant needs about 2-3 times the largest snapshot (${largest} bytes) free on its disk while it recovers`,
  );
  const free = await freeBytes(config.backupDir);
  if (free !== undefined) {
    details.push(`${free} bytes free in BACKUP_DIR for unpacking one snapshot at a time`);
    if (free < largest) problems.push(`BACKUP_DIR has ${free} bytes free; unpacking the largest snapshot needs ${largest}`);
  }

  const liveInScope = live.filter(inScope);
  for (const name of liveInScope) current.counts[name] = await api.count(name, signal);
  const setNames = new Set(restoring.map((c) => c.name));
  for (const collection of index.collections) {
    if (!inScope(collection.name)) {
      plan.push(`leave out collection ${collection.name} (not in QDRANT_COLLECTIONS)`);
      continue;
    }
    if (collection.name in current.counts) {
      const info = await api.collectionInfo(collection.name, signal);
      const differs = info !== undefined && !sameLayout(info.config, collection.config);
      plan.push(
        `replace collection ${collection.name} (${current.counts[collection.name]} points now, ${collection.points} in the set)` +
          (differs ? '; its vectors config differs, so it is deleted first' : ''),
      );
    } else {
      plan.push(`create collection ${collection.name} (${collection.points} points in the set)`);
    }
  }
  for (const name of liveInScope) {
    if (!setNames.has(name)) plan.push(`delete collection ${name} (not in the set; ${current.counts[name]} points now)`);
  }
  const aliasesNow = await api.aliases(signal);
  const desired = index.aliases.filter((a) => setNames.has(a.collection_name));
  const desiredKeys = new Set(desired.map(aliasKey));
  const desiredNames = new Set(desired.map((a) => a.alias_name));
  const removed = aliasesNow.filter(
    (a) =>
      (setNames.has(a.collection_name) || liveInScope.includes(a.collection_name) || desiredNames.has(a.alias_name) || setNames.has(a.alias_name)) &&
      !desiredKeys.has(aliasKey(a)),
  );
  if (desired.length) plan.push(`recreate aliases ${describeAliases(desired)}`);
  if (removed.length) plan.push(`remove aliases ${describeAliases(removed)}`);
  plan.push(`check every restored collection's exact point count and vectors config against ${INDEX_FILE}`);
  return { problems, current, details, plan };
}

const aliasKey = (a: Alias): string => `${a.alias_name}\u0000${a.collection_name}`;

async function freeBytes(path: string): Promise<number | undefined> {
  try {
    const stats = await statfs(path);
    return stats.bavail * stats.bsize;
  } catch {
    return undefined;
  }
}

// ---- safety snapshot ------------------------------------------------------------------------

const SAFETY_UPLOAD_PREFIX = 'scholaria-rollback';
const RESTORE_UPLOAD_PREFIX = 'scholaria-restore';

async function safetySnapshot(config: Config, input: RestoreSource, progress: ProgressReporter): Promise<SafetySnapshot> {
  const api = qdrantClient(config);
  const signal = progress.signal;
  const dir = safetyDirectory(config.backupDir, input.restoreId, 'qdrant');
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  const { version } = await api.version(signal);
  const names = await collectionsInScope(api, config, signal, false);
  const aliases = await api.aliases(signal);
  const recorded: RecordedCollection[] = [];
  for (const [i, name] of names.entries()) {
    progress.phase(`creating snapshot of ${name}`);
    const info = await api.collectionInfo(name, signal);
    if (!info) throw new Error(`collection "${name}" disappeared from Qdrant at ${api.where} while its safety snapshot was taken`);
    const description = await api.createSnapshot(name, signal);
    try {
      const points = await api.count(name, signal);
      progress.phase(`downloading snapshot of ${name}`);
      const fileName = `collection-${i}.snapshot`;
      const actual = await downloadSnapshotToFile(api, name, description, join(dir, fileName), progress);
      recorded.push({
        name,
        file: fileName,
        serverSnapshot: description.name,
        sha256: actual.sha256,
        bytes: actual.bytes,
        qdrantChecksum: description.checksum ?? null,
        points,
        config: info.config,
        payloadSchema: info.payload_schema ?? {},
      });
    } finally {
      await api.deleteSnapshot(name, description.name).catch(() => undefined);
    }
  }
  const index = collectionsIndex(config, version, recorded, aliases);
  // collections.json is written last: its presence marks a complete safety snapshot.
  await writeDurably(join(dir, INDEX_FILE), `${JSON.stringify(index, null, 2)}\n`);
  await fsyncPath(dir);
  const points = recorded.reduce((sum, c) => sum + c.points, 0);
  return {
    description: `Qdrant ${version}: ${recorded.length} collections (${points} points) and ${aliases.length} aliases, as snapshot files`,
    references: { dir, collections: String(recorded.length), qdrantVersion: version },
  };
}


/** The `collections.json` of an archive or a safety snapshot. */
function collectionsIndex(
  config: Config,
  qdrantVersion: string,
  collections: CollectionsIndex['collections'],
  aliases: CollectionsIndex['aliases'],
): CollectionsIndex {
  return {
    format: INDEX_FORMAT,
    version: 1,
    qdrantVersion,
    createdAt: new Date().toISOString(),
    scope: config.qdrant.collections?.length ? [...config.qdrant.collections] : null,
    collections,
    aliases,
  };
}

// ---- restore --------------------------------------------------------------------------------

async function restore(config: Config, input: StoreRestoreInput, progress: ProgressReporter): Promise<StoreRestoreResult> {
  const api = qdrantClient(config);
  const signal = progress.signal;
  progress.phase(`reading ${INDEX_FILE}`);
  const { file, path, index } = await readSetIndex(config, input, signal);
  const manifestDifferences = summaryDifferences(input.summary, summaryOfIndex(index));
  if (manifestDifferences.length) {
    throw new VerificationFailed(`${file.name}: ${INDEX_FILE} does not match the manifest: ${manifestDifferences.join('; ')}`);
  }
  const target = await api.version(signal);
  const refusal = versionProblem(index.qdrantVersion, target.version);
  if (refusal) throw new IncompatibleVersion(refusal);

  const inScope = scopeOf(config);
  const restoring = index.collections.filter((c) => inScope(c.name));
  const names = new Set(restoring.map((c) => c.name));
  const details: string[] = [];

  progress.phase('deleting collections not in the set');
  for (const name of (await api.collections(signal)).filter(inScope)) {
    if (names.has(name)) continue;
    await api.deleteCollection(name, signal);
    details.push(`deleted collection ${name} (not in the set)`);
  }
  details.push(...(await removeAliasesNamedLike(api, names, signal)));

  // One pass over the archive: each snapshot is unpacked to a scratch file, checked, uploaded, removed.
  const scratch = join(scratchDirectory(config.backupDir), `qdrant-restore-${input.restoreId}`);
  await rm(scratch, { recursive: true, force: true });
  await mkdir(scratch, { recursive: true });
  const byEntry = new Map(restoring.map((c, i) => [c.file, { collection: c, path: join(scratch, `collection-${i}.snapshot`) }]));
  const uploadName = `${RESTORE_UPLOAD_PREFIX}-${input.restoreId}.snapshot`;
  let writing: WriteStream | undefined;
  try {
    progress.phase('unpacking snapshots');
    const contents = await readArchive(path, {
      signal,
      sinkFor: (entry) => {
        const planned = byEntry.get(entry);
        if (!planned) return undefined;
        const { collection, path: scratchFile } = planned;
        progress.phase(`unpacking snapshot of ${collection.name}`);
        const out = createWriteStream(scratchFile);
        writing = out;
        let bytes = 0;
        return {
          write: (chunk) => {
            bytes += chunk.length;
            progress.bytes(bytes);
            return out.write(chunk) ? undefined : once(out, 'drain').then(() => undefined);
          },
          end: async (facts) => {
            await new Promise<void>((resolve, reject) => {
              out.once('error', reject);
              out.end(() => resolve());
            });
            writing = undefined;
            checkSnapshotFacts(file.name, collection, facts);
            const snapshotVersion = versionProblem(facts.versionInfo, target.version, `the snapshot of ${collection.name}`);
            if (snapshotVersion) throw new IncompatibleVersion(snapshotVersion);
            details.push(await recoverCollection(api, collection, scratchFile, uploadName, progress));
            await rm(scratchFile, { force: true });
          },
        };
      },
    });
    const missing = restoring.filter((c) => !contents.snapshots.has(c.file));
    if (missing.length) throw new VerificationFailed(`${file.name}: no snapshot of ${missing.map((c) => c.name).join(', ')}`);
  } catch (error) {
    throw asVerificationFailed(file.name, error);
  } finally {
    writing?.destroy();
    await rm(scratch, { recursive: true, force: true });
  }

  progress.phase('setting aliases');
  const desired = index.aliases.filter((a) => names.has(a.collection_name));
  details.push(...(await syncAliases(api, desired, (a) => names.has(a.collection_name), signal)));

  progress.phase('checking the restored collections');
  const problems = [...(await collectionDifferences(api, restoring, signal)), ...(await missingAliases(api, desired, signal))];
  if (problems.length) throw new VerificationFailed(`Qdrant at ${api.where} after the restore: ${problems.join('; ')}`);
  details.push(
    `${restoring.length} collections hold ${restoring.reduce((sum, c) => sum + c.points, 0)} points as recorded; vectors configs and aliases match ${INDEX_FILE}`,
  );
  return { details };
}

// ---- summarize ------------------------------------------------------------------------------

async function summarize(config: Config, progress: ProgressReporter): Promise<ContentSummary> {
  const api = qdrantClient(config);
  progress.phase('counting points');
  const counts: Record<string, number> = {};
  for (const name of await collectionsInScope(api, config, progress.signal, false)) counts[name] = await api.count(name, progress.signal);
  return { unit: 'points', counts };
}

// ---- rollback -------------------------------------------------------------------------------

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

async function rollback(config: Config, input: RollbackInput, progress: ProgressReporter): Promise<void> {
  const dir = safetyDirectory(config.backupDir, input.restoreId, 'qdrant');
  const index = await readSafetyIndex(dir);
  const api = qdrantClient(config);
  const signal = progress.signal;
  const inScope = scopeOf(config);
  const before = new Set(index.collections.map((c) => c.name));

  progress.phase('deleting collections that did not exist before');
  for (const name of (await api.collections(signal)).filter(inScope)) {
    if (!before.has(name)) await api.deleteCollection(name, signal);
  }
  await removeAliasesNamedLike(api, before, signal);
  const uploadName = `${SAFETY_UPLOAD_PREFIX}-${input.restoreId}.snapshot`;
  for (const collection of index.collections) {
    await recoverCollection(api, collection, join(dir, collection.file), uploadName, progress);
  }
  progress.phase('restoring aliases');
  const existing = new Set(await api.collections(signal));
  const desired = index.aliases.filter((a) => existing.has(a.collection_name));
  await syncAliases(api, desired, (a) => before.has(a.collection_name), signal);

  progress.phase('checking the rolled back collections');
  const problems = [...(await collectionDifferences(api, index.collections, signal)), ...(await missingAliases(api, desired, signal))];
  if (problems.length) throw new VerificationFailed(`Qdrant at ${api.where} after the rollback: ${problems.join('; ')}`);
}

// ---- release --------------------------------------------------------------------------------

async function release(config: Config, input: ReleaseInput): Promise<void> {
  if (input.keep) return;
  const dir = safetyDirectory(config.backupDir, input.restoreId, 'qdrant');
  await rm(dir, { recursive: true, force: true });
  await rmdir(dirname(dir)).catch(() => undefined); // the restore's folder, once no store keeps anything there
}
