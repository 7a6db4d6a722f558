/**
 * Qdrant drills: every collection of the set is recovered from its snapshot under a `drill_<id>_`
 * prefix on the production server (or DRILL_QDRANT_URL), its aliases created under the same prefix
 * (a production alias is never touched), counted and compared with the recorded configs, then deleted.
 */
import { once } from 'node:events';
import { createWriteStream, type WriteStream } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Config } from '../../core/config';
import type { RestoreSource } from '../../core/contract';
import { scratchNames, type ScratchRestoreResult } from '../../core/drills';
import { VerificationFailed } from '../repository/errors';
import { scratchDirectory } from '../repository/sets';
import type { ProgressReporter } from '../heartbeat';
import { asVerificationFailed, checkSnapshotFacts, readArchive, readSetIndex } from '../qdrant/archive';
import { aliasList, collectionNames, deleteCollection, qdrantConnection, updateAliases } from '../qdrant/connection';
import { scopeOf } from '../qdrant/scope';
import { collectionDifferences, recoverCollection } from '../qdrant/snapshots';
import { drillConfig } from './targets';

export async function restoreQdrantScratch(config: Config, drillId: string, source: RestoreSource, progress: ProgressReporter): Promise<ScratchRestoreResult> {
  const q = qdrantConnection(drillConfig(config, 'qdrant'));
  const signal = progress.signal;
  const { collectionPrefix: prefix } = scratchNames(drillId);
  const { file, path, index } = await readSetIndex(config, source, signal);
  const inScope = scopeOf(config);
  const drilled = index.collections.filter((c) => inScope(c.name)).map((c) => ({ ...c, original: c.name, name: `${prefix}${c.name}` }));
  const byEntry = new Map(drilled.map((c, i) => [c.file, { collection: c, path: '', index: i }]));
  const scratch = join(scratchDirectory(config.backupDir), `qdrant-drill-${drillId}`);
  await rm(scratch, { recursive: true, force: true });
  await mkdir(scratch, { recursive: true });
  const details: string[] = [];
  let writing: WriteStream | undefined;
  try {
    progress.phase('unpacking snapshots');
    await readArchive(path, config, {
      signal,
      sinkFor: (entry) => {
        const planned = byEntry.get(entry);
        if (!planned) return undefined;
        const scratchFile = join(scratch, `collection-${planned.index}.snapshot`);
        const out = createWriteStream(scratchFile);
        writing = out;
        return {
          write: (chunk) => (out.write(chunk) ? undefined : once(out, 'drain').then(() => undefined)),
          end: async (facts) => {
            await new Promise<void>((resolve, reject) => {
              out.once('error', reject);
              out.end(() => resolve());
            });
            writing = undefined;
            checkSnapshotFacts(file.name, { ...planned.collection, name: planned.collection.original }, facts);
            details.push(await recoverCollection(q, planned.collection, scratchFile, `scholaria-drill-${drillId}.snapshot`, progress));
            await rm(scratchFile, { force: true });
          },
        };
      },
    });
  } catch (error) {
    throw asVerificationFailed(file.name, error);
  } finally {
    writing?.destroy();
    await rm(scratch, { recursive: true, force: true });
  }
  const originals = new Set(drilled.map((c) => c.original));
  const aliases = index.aliases.filter((a) => originals.has(a.collection_name));
  if (aliases.length > 0) {
    progress.phase('creating the aliases under the drill prefix');
    await updateAliases(
      q,
      aliases.map((a) => ({ create_alias: { alias_name: `${prefix}${a.alias_name}`, collection_name: `${prefix}${a.collection_name}` } })),
      signal,
    );
  }
  progress.phase('checking the drill collections');
  const { problems, counts } = await collectionDifferences(q, drilled, signal);
  if (problems.length) throw new VerificationFailed(`Qdrant drill collections: ${problems.join('; ')}`);
  const summary = Object.fromEntries(drilled.map((c) => [c.original, counts[c.name] ?? 0]));
  // A count recorded as a range was checked against its range above; the manifest holds one end of it.
  const ranged = drilled.some((c) => c.pointsRange);
  details.push(`${drilled.length} collections and ${aliases.length} aliases recreated under ${prefix}; configs, payload indexes and counts match the set`);
  return {
    target: `collections ${prefix}* on ${config.drill.storeUrls.qdrant ? 'DRILL_QDRANT_URL' : 'the production Qdrant server'}`,
    summary: { unit: 'points', counts: summary },
    ...(ranged ? { expected: { unit: 'points', counts: summary } } : {}),
    details,
  };
}

export async function removeQdrantScratch(config: Config, drillId: string): Promise<string[]> {
  const q = qdrantConnection(drillConfig(config, 'qdrant'));
  const { collectionPrefix: prefix } = scratchNames(drillId);
  const removed: string[] = [];
  const aliases = (await aliasList(q)).filter((a) => a.alias_name.startsWith(prefix));
  if (aliases.length > 0) {
    await updateAliases(q, aliases.map((a) => ({ delete_alias: { alias_name: a.alias_name } })));
    removed.push(...aliases.map((a) => `alias ${a.alias_name}`));
  }
  for (const name of (await collectionNames(q)).filter((n) => n.startsWith(prefix))) {
    await deleteCollection(q, name);
    removed.push(`collection ${name}`);
  }
  return removed;
}
