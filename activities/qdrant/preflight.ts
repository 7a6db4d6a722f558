/** preflight: what a restore would change, and why it must not start (versions, space), read-only. */
import { statfs } from 'node:fs/promises';
import type { Config } from '../../core/config';
import type { PreflightReport, RestoreSource } from '../../core/contract';
import { summaryDifferences, type ContentSummary } from '../../core/manifest';
import type { ProgressReporter } from '../heartbeat';
import { readSetIndex } from './archive';
import { aliasKey, describeAliases, INDEX_FILE, summaryOfIndex } from './collections-index';
import { configDifferences, setVersionProblem } from './comparison';
import { aliasList, collectionInfo, collectionNames, exactCount, qdrantConnection, serverVersion } from './connection';
import { scopeOf } from './scope';

export async function preflight(config: Config, input: RestoreSource, progress: ProgressReporter): Promise<PreflightReport> {
  const signal = progress.signal;
  progress.phase(`reading ${INDEX_FILE}`);
  const { file, index } = await readSetIndex(config, input, signal);
  const problems: string[] = [];
  const details: string[] = [];
  const plan: string[] = [];
  const current: ContentSummary = { unit: 'points', counts: {} };
  const manifestDifferences = summaryDifferences(input.summary, summaryOfIndex(index));
  if (manifestDifferences.length) problems.push(`${file.name}: ${INDEX_FILE} does not match the manifest: ${manifestDifferences.join('; ')}`);

  const q = qdrantConnection(config);
  progress.phase('reading the target');
  let target: { version: string; standin: boolean };
  let live: string[];
  try {
    target = await serverVersion(q, signal);
    live = await collectionNames(q, signal);
  } catch (error) {
    problems.push(`the Qdrant API is not usable: ${(error as Error).message}`);
    return { problems, current, details, plan };
  }
  const inScope = scopeOf(config);
  const version = setVersionProblem(input, index, target.version);
  if (version) problems.push(version);
  const restoring = index.collections.filter((c) => inScope(c.name));
  const setBytes = restoring.reduce((sum, c) => sum + c.bytes, 0);
  const largest = restoring.reduce((max, c) => Math.max(max, c.bytes), 0);
  details.push(
    `target: Qdrant ${target.version} at ${q.where}${target.standin ? ' (the test stand-in, not a real Qdrant)' : ''}`,
    `the set: made by Qdrant ${input.serverVersion} (the server's version, recorded at backup time), ${index.collections.length} collections, ` +
      `${index.collections.reduce((sum, c) => sum + c.points, 0)} points, ${setBytes} bytes of snapshots, made ${index.createdAt}`,
    `Qdrant needs about 2-3 times the largest snapshot (${largest} bytes) free on its disk while it recovers`,
  );
  const free = await freeBytes(config.backupDir);
  if (free !== undefined) {
    details.push(`${free} bytes free in BACKUP_DIR for unpacking one snapshot at a time`);
    if (free < largest) problems.push(`BACKUP_DIR has ${free} bytes free; unpacking the largest snapshot needs ${largest}`);
  }

  const liveInScope = live.filter(inScope);
  for (const name of liveInScope) current.counts[name] = await exactCount(q, name, signal);
  const setNames = new Set(restoring.map((c) => c.name));
  for (const collection of index.collections) {
    if (!inScope(collection.name)) {
      plan.push(`leave out collection ${collection.name} (not in QDRANT_COLLECTIONS)`);
      continue;
    }
    if (collection.name in current.counts) {
      const info = await collectionInfo(q, collection.name, signal);
      const differences = info ? configDifferences(collection, info) : [];
      plan.push(
        `replace collection ${collection.name} (${current.counts[collection.name]} points now, ${collection.points} in the set): ` +
          `deleted, then recreated from its snapshot with the set's config` +
          (differences.length ? ` (config now differs: ${differences.join('; ')})` : ''),
      );
    } else {
      plan.push(`create collection ${collection.name} (${collection.points} points in the set)`);
    }
  }
  for (const name of liveInScope) {
    if (!setNames.has(name)) plan.push(`delete collection ${name} (not in the set; ${current.counts[name]} points now)`);
  }
  const aliasesNow = await aliasList(q, signal);
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
  plan.push(`check every restored collection's exact point count, full config and payload indexes against ${INDEX_FILE}`);
  return { problems, current, details, plan };
}

async function freeBytes(path: string): Promise<number | undefined> {
  try {
    const stats = await statfs(path);
    return stats.bavail * stats.bsize;
  } catch {
    return undefined;
  }
}
