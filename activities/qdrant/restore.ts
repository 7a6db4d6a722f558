/**
 * restore: collections not in the set deleted; each collection in the set deleted and recreated by
 * Qdrant from its uploaded snapshot (its own config and payload indexes, snapshots.ts); aliases set one
 * action at a time (aliases.ts); then every collection's full config, payload indexes and exact count
 * checked against collections.json.
 */
import { once } from 'node:events';
import { createWriteStream, type WriteStream } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Config } from '../../core/config';
import type { StoreRestoreInput, StoreRestoreResult } from '../../core/contract';
import { summaryDifferences } from '../../core/manifest';
import { VerificationFailed } from '../repository/errors';
import { scratchDirectory } from '../repository/sets';
import type { ProgressReporter } from '../heartbeat';
import { asVerificationFailed, checkSnapshotFacts, readArchive, readSetIndex } from './archive';
import { missingAliases, removeAliasesNamedLike, syncAliases } from './aliases';
import { INDEX_FILE, summaryOfIndex } from './collections-index';
import { setVersionProblem } from './comparison';
import { collectionNames, deleteCollection, qdrantConnection, serverVersion } from './connection';
import { scopeOf } from './scope';
import { collectionDifferences, recoverCollection } from './snapshots';

class IncompatibleVersion extends Error {
  override name = 'IncompatibleVersion';
}

const RESTORE_UPLOAD_PREFIX = 'scholaria-restore';

export async function restore(config: Config, input: StoreRestoreInput, progress: ProgressReporter): Promise<StoreRestoreResult> {
  const q = qdrantConnection(config);
  const signal = progress.signal;
  progress.phase(`reading ${INDEX_FILE}`);
  const { file, path, index } = await readSetIndex(config, input, signal);
  const manifestDifferences = summaryDifferences(input.summary, summaryOfIndex(index));
  if (manifestDifferences.length) {
    throw new VerificationFailed(`${file.name}: ${INDEX_FILE} does not match the manifest: ${manifestDifferences.join('; ')}`);
  }
  const target = await serverVersion(q, signal);
  const refusal = setVersionProblem(input, index, target.version);
  if (refusal) throw new IncompatibleVersion(refusal);

  const inScope = scopeOf(config);
  const restoring = index.collections.filter((c) => inScope(c.name));
  const names = new Set(restoring.map((c) => c.name));
  const details: string[] = [];

  progress.phase('deleting collections not in the set');
  for (const name of (await collectionNames(q, signal)).filter(inScope)) {
    if (names.has(name)) continue;
    await deleteCollection(q, name, signal);
    details.push(`deleted collection ${name} (not in the set)`);
  }
  details.push(...(await removeAliasesNamedLike(q, names, signal)));

  // One pass over the archive: each snapshot is unpacked to a scratch file, checked, uploaded, removed.
  const scratch = join(scratchDirectory(config.backupDir), `qdrant-restore-${input.restoreId}`);
  await rm(scratch, { recursive: true, force: true });
  await mkdir(scratch, { recursive: true });
  const byEntry = new Map(restoring.map((c, i) => [c.file, { collection: c, path: join(scratch, `collection-${i}.snapshot`) }]));
  const uploadName = `${RESTORE_UPLOAD_PREFIX}-${input.restoreId}.snapshot`;
  let writing: WriteStream | undefined;
  try {
    progress.phase('unpacking snapshots');
    const contents = await readArchive(path, config, {
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
            details.push(await recoverCollection(q, collection, scratchFile, uploadName, progress));
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
  details.push(...(await syncAliases(q, desired, (a) => names.has(a.collection_name), signal)));

  progress.phase('checking the restored collections');
  const { problems, counts } = await collectionDifferences(q, restoring, signal);
  problems.push(...(await missingAliases(q, desired, signal)));
  if (problems.length) throw new VerificationFailed(`Qdrant at ${q.where} after the restore: ${problems.join('; ')}`);
  details.push(
    `${restoring.length} collections hold the recorded points; full configs, payload indexes and aliases match ${INDEX_FILE}`,
  );
  // A count recorded as a range (writes ran during the snapshot) is checked by its range; what the
  // target holds now is then the expected summary.
  const ranged = restoring.some((c) => c.pointsRange);
  return ranged ? { details, expected: { unit: 'points', counts: { ...summaryOfIndex(index, inScope).counts, ...counts } } } : { details };
}
