/**
 * Pure rules for comparing what a set recorded with a Qdrant server: version compatibility (from the
 * servers' versions, GET /), and config and payload-index comparison after a restore.
 */
import type { RestoreSource } from '../../core/contract';
import { INDEX_FILE, type CollectionsIndex } from './collections-index';

function majorMinor(version: string): [number, number] | undefined {
  const match = /^v?(\d+)\.(\d+)/.exec(version.trim());
  return match ? [Number(match[1]), Number(match[2])] : undefined;
}

/**
 * Qdrant recovers a snapshot made by the same or the previous minor version (docs, qdrant/landing_page
 * #2610); never one from a newer version. Returns the reason a restore must not happen, if any.
 */
export function versionProblem(setVersion: string, targetVersion: string, what = 'the set'): string | undefined {
  const made = majorMinor(setVersion);
  const target = majorMinor(targetVersion);
  if (!made || !target) return `cannot compare Qdrant versions: ${what} was made by "${setVersion}", the target runs "${targetVersion}"`;
  const newer = made[0] > target[0] || (made[0] === target[0] && made[1] > target[1]);
  if (newer) {
    return `Version check: ${what} was made by Qdrant ${setVersion}, newer than the target's ${targetVersion}; Qdrant cannot recover snapshots of a newer version`;
  }
  if (made[0] !== target[0] || target[1] > made[1] + 1) {
    return `Version check: ${what} was made by Qdrant ${setVersion}, the target runs ${targetVersion}; Qdrant only recovers snapshots of the same or the previous minor version`;
  }
  return undefined;
}

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** Key-order-insensitive JSON, for comparing configs. */
function canonicalJson(value: unknown): string {
  const canon = (v: unknown): unknown =>
    Array.isArray(v) ? v.map(canon) : isObject(v) ? Object.fromEntries(Object.keys(v).sort().map((k) => [k, canon(v[k])])) : v;
  return JSON.stringify(canon(value) ?? null);
}

/**
 * Differences where `live` does not hold what `recorded` holds; fields only `live` has are ignored
 * (a newer server reports more). Paths are dotted, e.g. `vectors.text.size`.
 */
function recordedDifferences(recorded: unknown, live: unknown, path = ''): string[] {
  if (isObject(recorded)) {
    if (!isObject(live)) return [`${path || 'config'}: ${JSON.stringify(recorded)} recorded, ${JSON.stringify(live ?? null)} now`];
    return Object.keys(recorded)
      .sort()
      .flatMap((key) => recordedDifferences(recorded[key], live[key], path ? `${path}.${key}` : key));
  }
  if (recorded === null && live === undefined) return [];
  return canonicalJson(recorded) === canonicalJson(live)
    ? []
    : [`${path || 'config'}: ${JSON.stringify(recorded)} recorded, ${JSON.stringify(live ?? null)} now`];
}


/** A payload index as recorded or as GET /collections reports it, without its (changing) point count. */
function indexShape(entry: unknown): unknown {
  if (!isObject(entry)) return entry;
  const { points: _points, ...shape } = entry;
  return shape;
}

/**
 * What differs between a collection as recorded (its full config and payload indexes) and as the
 * server reports it now: one line per difference, paths dotted (`hnsw_config.m`, `payload index year`).
 */
export function configDifferences(
  recorded: { config: Record<string, unknown>; payloadSchema: unknown },
  live: { config: unknown; payload_schema?: unknown },
): string[] {
  const differences = recordedDifferences(recorded.config, live.config);
  const want = isObject(recorded.payloadSchema) ? recorded.payloadSchema : {};
  const have = isObject(live.payload_schema) ? live.payload_schema : {};
  for (const field of new Set([...Object.keys(want), ...Object.keys(have)])) {
    const [w, h] = [indexShape(want[field]), indexShape(have[field])];
    if (canonicalJson(w) !== canonicalJson(h)) {
      differences.push(`payload index ${field}: ${JSON.stringify(w ?? null)} recorded, ${JSON.stringify(h ?? null)} now`);
    }
  }
  return differences;
}

/**
 * Why a set may not be restored onto a server running `targetVersion`, judged from the server
 * version the manifest recorded at backup time (GET /), not from a snapshot's `version.info` (the
 * collection crate's version). Both records must agree.
 */
export function setVersionProblem(input: Pick<RestoreSource, 'serverVersion'>, index: CollectionsIndex, targetVersion: string): string | undefined {
  if (index.qdrantVersion !== input.serverVersion) {
    return `the manifest records Qdrant ${input.serverVersion}, ${INDEX_FILE} records ${index.qdrantVersion}: the set is inconsistent`;
  }
  return versionProblem(input.serverVersion, targetVersion);
}

