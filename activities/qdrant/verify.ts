/** verify: the set's Qdrant archive read to its end, every snapshot inside walked as a tar and hashed. */
import { join } from 'node:path';
import type { Config } from '../../core/config';
import type { StoreVerifyInput, StoreVerifyResult } from '../../core/contract';
import { VerificationFailed } from '../repository/errors';
import { setDirectory } from '../repository/sets';
import type { ProgressReporter } from '../heartbeat';
import { archiveFileOf, asVerificationFailed, checkSnapshotFacts, readArchive } from './archive';
import { INDEX_FILE, describeAliases, summaryOfIndex } from './collections-index';

export async function verify(config: Config, input: StoreVerifyInput, progress: ProgressReporter): Promise<StoreVerifyResult> {
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
    const facts = snapshots.get(collection.file) ?? fail(`the snapshot of ${collection.name} (${collection.file}) is missing`);
    checkSnapshotFacts(file.name, collection, facts);
    checks.push(
      `${collection.name}: snapshot of ${facts.bytes} bytes matches its sha256, a complete tar of ${facts.entries} entries ` +
        `(${facts.sparseEntries} sparse), collection format ${facts.versionInfo}, ${collection.points} points recorded`,
    );
  }
  checks.push(index.aliases.length ? `aliases recorded: ${describeAliases(index.aliases)}` : 'no aliases recorded');
  return { checks, summary: summaryOfIndex(index) };
}
