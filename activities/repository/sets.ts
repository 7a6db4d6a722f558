/**
 * The backup repository: BACKUP_DIR holding sealed sets, `.partial/` for sets being written and
 * `.tmp/` for scratch files of verification. A set becomes visible only by an atomic rename after
 * its SHA256SUMS and manifest are on disk.
 */
import { constants } from 'node:fs';
import { access, mkdir, open, readFile, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  CHECKSUMS_FILE,
  MANIFEST_FILE,
  MANIFEST_SCHEMA,
  MANIFEST_VERSION,
  type FileEntry,
  type Manifest,
  type SetEncryption,
  filesOf,
  formatChecksums,
  manifestSchema,
  statusOf,
  totalBytes,
} from '../../core/manifest';
import { isSetName, parseSetReference, setNameOf, stampOfSetName } from '../../core/set-names';
import type { ChecksumReport, ResolvedSet, SealSetInput, SealedSet, SetLocation, StagedSet } from '../../core/contract';
import type { Tier } from '../../core/tiers';
import type { StoreName } from '../../core/stores';
import { isEncryptedFile } from '../../core/compression';
import { ConfigError } from '../../core/config';
import { fileModes } from '../file-modes';
import { BackupDirUnusable, ChecksumMismatch, SetNotFound } from './errors';
import { hashFile, hashOfUnchangedFile } from './hashing';

export const STAGING_FOLDER = '.partial';
export const SCRATCH_FOLDER = '.tmp';
export const SAFETY_FOLDER = '.safety';

export function setDirectory(backupDir: string, name: string, location: SetLocation): string {
  if (!isSetName(name)) throw new SetNotFound(`"${name}" is not a backup set name`);
  return location === 'sealed' ? join(backupDir, name) : join(backupDir, STAGING_FOLDER, name);
}

export function scratchDirectory(backupDir: string): string {
  return join(backupDir, SCRATCH_FOLDER);
}

/** Where a restore keeps one store's safety snapshot files until the restore is released. */
export function safetyDirectory(backupDir: string, restoreId: string, store: string): string {
  if (!/^[0-9A-Za-z_-]+$/.test(restoreId)) throw new RangeError(`"${restoreId}" is not a restore id`);
  return join(backupDir, SAFETY_FOLDER, restoreId, store);
}

/** Makes sure BACKUP_DIR exists and takes writes, by writing and removing a probe file. */
export async function ensureWritableBackupDir(backupDir: string): Promise<void> {
  const probe = join(backupDir, STAGING_FOLDER, `.write-probe-${process.pid}`);
  try {
    await mkdir(join(backupDir, STAGING_FOLDER), { recursive: true, mode: fileModes().directory });
    await writeFile(probe, 'probe', { mode: fileModes().file });
    await rm(probe, { force: true });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'error';
    throw new BackupDirUnusable(`BACKUP_DIR ${backupDir} is not writable (${code})`);
  }
}

/** Sets are named to the second; a backup that follows another within its second takes the next free one. */
const NAME_ATTEMPTS = 10;

/**
 * Creates the staging folder of a new set, named after `startedAt` or the first later second no
 * sealed set holds; a retry of the same run starts its staging folder afresh.
 */
export async function stageSet(backupDir: string, tier: Tier, startedAt: Date): Promise<StagedSet> {
  await ensureWritableBackupDir(backupDir);
  let name = setNameOf(startedAt);
  for (let attempt = 1; await exists(setDirectory(backupDir, name, 'sealed')); attempt++) {
    if (attempt === NAME_ATTEMPTS) throw new BackupDirUnusable(`backup sets named ${setNameOf(startedAt)} and the ${NAME_ATTEMPTS - 1} seconds after it already exist in ${backupDir}`);
    name = setNameOf(new Date(startedAt.getTime() + attempt * 1000));
  }
  const dir = setDirectory(backupDir, name, 'staging');
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true, mode: fileModes().directory });
  return { name, stamp: stampOfSetName(name), tier };
}

export async function discardStagedSet(backupDir: string, name: string): Promise<void> {
  await rm(setDirectory(backupDir, name, 'staging'), { recursive: true, force: true });
}

/**
 * Seals a staged set: checks every file against the checksum taken when it was written, writes
 * SHA256SUMS and the manifest, fsyncs them, and renames the folder into BACKUP_DIR in one step. A file
 * this worker hashed once written, and which nobody has touched since (same inode, size and times),
 * is not read again; any other file is.
 * `encryption` (from `setEncryptionOf(config)`) is recorded when the set holds encrypted files, which
 * it must then be given for: a manifest never hides which public keys open its set.
 */
export async function sealSet(
  backupDir: string,
  input: SealSetInput,
  tool: Manifest['tool'],
  encryption?: SetEncryption,
  now: () => Date = () => new Date(),
): Promise<SealedSet> {
  const staging = setDirectory(backupDir, input.set.name, 'staging');
  const sealed = setDirectory(backupDir, input.set.name, 'sealed');
  // A worker killed after the rename: the set is this run's and sealed already; the retry reports it.
  if (!(await exists(staging)) && (await exists(sealed))) {
    const manifest = await readManifest(sealed);
    if (manifest.workflow.id === input.workflow.id && manifest.workflow.runId === input.workflow.runId) return sealedSetOf(manifest, sealed);
  }
  const encrypted = filesOf({ stores: input.stores }).some((file) => isEncryptedFile(file.name));
  if (encrypted && !encryption) throw new ConfigError(`${input.set.name} holds age-encrypted files, but the recipients they were encrypted to were not given to seal it`);
  const manifest: Manifest = {
    schema: MANIFEST_SCHEMA,
    version: MANIFEST_VERSION,
    name: input.set.name,
    tier: input.set.tier,
    status: statusOf(input.stores),
    startedAt: input.startedAt,
    finishedAt: now().toISOString(),
    tool,
    workflow: input.workflow,
    stores: input.stores,
    ...(encrypted && encryption ? { encryption } : {}),
  };
  const files = filesOf(manifest);
  await removeUnlisted(staging, files);
  for (const file of files) await checkFile(staging, file, async (path) => (await hashOfUnchangedFile(path)) ?? hashFile(path));
  await writeDurably(join(staging, CHECKSUMS_FILE), formatChecksums(files));
  await writeDurably(join(staging, MANIFEST_FILE), `${JSON.stringify(wellFormed(manifest), null, 2)}\n`);
  await fsyncPath(staging);
  await rename(staging, sealed);
  await fsyncPath(backupDir);
  await fsyncPath(join(backupDir, STAGING_FOLDER));
  return sealedSetOf(manifest, sealed);
}

function sealedSetOf(manifest: Manifest, path: string): SealedSet {
  const bytesPerStore: Partial<Record<StoreName, number>> = {};
  for (const [store, record] of Object.entries(manifest.stores) as [StoreName, Manifest['stores'][StoreName]][]) {
    if (record?.status === 'ok') bytesPerStore[store] = totalBytes(record.files);
  }
  return { name: manifest.name, path, status: manifest.status, bytes: totalBytes(filesOf(manifest)), bytesPerStore };
}

/** The manifest as the schema has it, or one line naming the first field that is not. */
function wellFormed(manifest: Manifest): Manifest {
  const parsed = manifestSchema.safeParse(manifest);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0]!;
  throw new Error(`the manifest of ${manifest.name} would be malformed at ${issue.path.join('.')}: ${issue.message}`);
}

export interface SetListing {
  name: string;
  path: string;
  manifest?: Manifest;
  /** Why the manifest could not be read, when it could not. */
  problem?: string;
}

/** Every folder in BACKUP_DIR named like a set, newest first, with its manifest when readable. */
export async function listSets(backupDir: string): Promise<SetListing[]> {
  let names: string[];
  try {
    names = await readdir(backupDir);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw new BackupDirUnusable(`BACKUP_DIR ${backupDir} cannot be read (${(error as NodeJS.ErrnoException).code})`);
  }
  const listings = await Promise.all(
    names.filter(isSetName).map(async (name): Promise<SetListing> => {
      const path = join(backupDir, name);
      try {
        return { name, path, manifest: await readManifest(path) };
      } catch (error) {
        return { name, path, problem: (error as Error).message };
      }
    }),
  );
  return listings.sort((a, b) => b.name.localeCompare(a.name));
}

export async function readManifest(setPath: string): Promise<Manifest> {
  let text: string;
  try {
    text = await readFile(join(setPath, MANIFEST_FILE), 'utf8');
  } catch {
    throw new SetNotFound(`${MANIFEST_FILE} is missing in ${setPath}`);
  }
  return parseManifest(text, setPath);
}

/** A manifest's text, read from `setPath` (a set folder or an offsite set's URL): parsed, of a version this tool reads, and well-formed. */
export function parseManifest(text: string, setPath: string): Manifest {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new ChecksumMismatch(`${MANIFEST_FILE} in ${setPath} is not valid JSON`);
  }
  const version = (json as { version?: unknown }).version;
  if (version !== MANIFEST_VERSION) {
    throw new SetNotFound(`${MANIFEST_FILE} in ${setPath} has version ${String(version)}; this tool reads version ${MANIFEST_VERSION}`);
  }
  const parsed = manifestSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new ChecksumMismatch(`${MANIFEST_FILE} in ${setPath} is malformed at ${issue.path.join('.')}: ${issue.message}`);
  }
  return parsed.data;
}

/** `latest` (the newest complete set), a set name, or a set path inside BACKUP_DIR. */
export async function resolveSet(backupDir: string, reference: string): Promise<ResolvedSet> {
  let parsed;
  try {
    parsed = parseSetReference(reference, backupDir);
  } catch (error) {
    throw new SetNotFound((error as Error).message);
  }
  if (parsed.kind === 'latest') {
    const newest = (await listSets(backupDir)).find((set) => set.manifest?.status === 'complete');
    if (!newest?.manifest) throw new SetNotFound(`no complete backup set in ${backupDir}`);
    return { name: newest.name, path: newest.path, manifest: newest.manifest };
  }
  const path = setDirectory(backupDir, parsed.name, 'sealed');
  if (!(await exists(path))) throw new SetNotFound(`backup set ${parsed.name} not found in ${backupDir}`);
  return { name: parsed.name, path, manifest: await readManifest(path) };
}

/**
 * Re-reads every file of a sealed set: SHA256SUMS must list exactly the manifest's files, and each
 * file must have the recorded size and hash. The first bad file is named.
 */
export async function verifySetChecksums(
  backupDir: string,
  name: string,
  onBytes?: (bytes: number) => void,
): Promise<ChecksumReport> {
  const path = setDirectory(backupDir, name, 'sealed');
  const manifest = await readManifest(path);
  const files = filesOf(manifest);
  let listed: string;
  try {
    listed = await readFile(join(path, CHECKSUMS_FILE), 'utf8');
  } catch {
    throw new ChecksumMismatch(`${CHECKSUMS_FILE} is missing in ${path}`);
  }
  if (listed !== formatChecksums(files)) {
    throw new ChecksumMismatch(`${CHECKSUMS_FILE} in ${path} does not match ${MANIFEST_FILE}`);
  }
  let bytesChecked = 0;
  for (const file of files) {
    await checkFile(path, file, (filePath) => hashFile(filePath, (bytes) => onBytes?.(bytesChecked + bytes)));
    bytesChecked += file.bytes;
  }
  return { filesChecked: files.length, bytesChecked };
}

/** What a failed store left behind is not part of the set: only listed files are sealed. */
async function removeUnlisted(dir: string, files: readonly FileEntry[]): Promise<void> {
  const listed = new Set(files.map((file) => file.name.split('/')[0]));
  for (const entry of await readdir(dir)) {
    if (!listed.has(entry)) await rm(join(dir, entry), { recursive: true, force: true });
  }
}

async function checkFile(dir: string, file: FileEntry, hashOf: (path: string) => Promise<{ sha256: string; bytes: number }>): Promise<void> {
  const path = join(dir, file.name);
  let actual;
  try {
    actual = await hashOf(path);
  } catch (error) {
    throw new ChecksumMismatch(`${file.name}: cannot be read (${(error as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  if (actual.bytes !== file.bytes) {
    throw new ChecksumMismatch(`${file.name}: ${actual.bytes} bytes on disk, ${file.bytes} recorded`);
  }
  if (actual.sha256 !== file.sha256) {
    throw new ChecksumMismatch(`${file.name}: sha256 ${actual.sha256} on disk, ${file.sha256} recorded`);
  }
}

/** Writes a file so that it is either absent or complete and on disk: temporary name, fsync, rename. */
export async function writeDurably(path: string, content: string): Promise<void> {
  const temporary = `${path}.writing`;
  const handle = await open(temporary, 'w', fileModes().file);
  try {
    await handle.writeFile(content);
    await handle.sync();
  } finally {
    await handle.close();
  }
  await rename(temporary, path);
}

/** fsync of a file or folder, so a rename or a new file survives a power loss. */
export async function fsyncPath(path: string): Promise<void> {
  const handle = await open(path, constants.O_RDONLY);
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Whether `path` exists (a set's folder, say). */
export async function exists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}
