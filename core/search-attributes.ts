/**
 * The search attributes every run carries, defined once for the workflows, the CLI, the schedules,
 * the worker (which registers them) and the dev server (which starts with them). They let the
 * Temporal Web UI's query box and `scholaria-backup runs` filter runs, e.g.
 * `BackupRunKind = 'restore' AND BackupOutcome = 'rolled back'`.
 *
 * Four Keyword attributes: SQL visibility stores (the dev server's SQLite, MySQL, PostgreSQL) allow
 * ten per namespace. Values are names and words, never secrets.
 */
import { defineSearchAttributeKey, SearchAttributeType, type SearchAttributePair } from '@temporalio/common';
import type { Tier } from './tiers';

/** What the run is: one of RUN_KINDS. */
export const RUN_KIND = defineSearchAttributeKey('BackupRunKind', SearchAttributeType.KEYWORD);
/** The tier of the backup, or of the set a restore or verification works from. */
export const BACKUP_TIER = defineSearchAttributeKey('BackupTier', SearchAttributeType.KEYWORD);
/** The set written, restored or verified, once the run knows it (e.g. `scholaria_backup_20260301_020000`). */
export const BACKUP_SET = defineSearchAttributeKey('BackupSet', SearchAttributeType.KEYWORD);
/** `running` until the run ends, then one of RUN_OUTCOMES. */
export const BACKUP_OUTCOME = defineSearchAttributeKey('BackupOutcome', SearchAttributeType.KEYWORD);

export const SEARCH_ATTRIBUTES = [RUN_KIND, BACKUP_TIER, BACKUP_SET, BACKUP_OUTCOME] as const;

export const RUN_KINDS = ['backup', 'restore', 'verify', 'health', 'prune', 'notify', 'audit', 'drill'] as const;
export type RunKind = (typeof RUN_KINDS)[number];

export const RUN_OUTCOMES = [
  'running',
  // backup
  'complete',
  'partial',
  // restore
  'restored',
  'dry run',
  'rolled back',
  'rollback failed',
  // verify
  'verified',
  // health
  'healthy',
  'unhealthy',
  // prune
  'pruned',
  // drill
  'passed',
  // any
  'failed',
  'cancelled',
] as const;
export type RunOutcome = (typeof RUN_OUTCOMES)[number];

/** The attributes a run starts with: its kind, the tier when known, and `running`. */
export function startAttributes(kind: RunKind, tier?: Tier): SearchAttributePair[] {
  return [
    { key: RUN_KIND, value: kind },
    ...(tier ? [{ key: BACKUP_TIER, value: tier }] : []),
    { key: BACKUP_OUTCOME, value: 'running' },
  ];
}

/** The server's refusal of an attribute the namespace does not have (`no mapping defined for search attribute X`). */
export function isUnregisteredSearchAttributeError(error: unknown): boolean {
  for (let current = error, depth = 0; current && depth < 5; current = (current as { cause?: unknown }).cause, depth += 1) {
    if (/no mapping defined for search attribute|search attribute \S+ is not defined/i.test(String((current as { message?: unknown }).message))) return true;
  }
  return false;
}

/**
 * Starts a run with its search attributes; on a namespace that lacks them (the worker could not
 * register them) the run still starts, without them, after one warning line: a backup must not
 * depend on how it is shown.
 */
export async function startWithSearchAttributes<T>(
  start: (attributes: SearchAttributePair[] | undefined) => Promise<T>,
  attributes: SearchAttributePair[],
  warn: (line: string) => void,
): Promise<T> {
  try {
    return await start(attributes);
  } catch (error) {
    if (!isUnregisteredSearchAttributeError(error)) throw error;
    warn(
      `the namespace lacks the search attributes ${SEARCH_ATTRIBUTES.map((key) => key.name).join(', ')} (the worker registers them at start when allowed); the run starts without them`,
    );
    return start(undefined);
  }
}

/** `temporal server start-dev` flags that create the attributes with the dev server's namespace. */
export function devServerSearchAttributeFlags(): string[] {
  return SEARCH_ATTRIBUTES.flatMap((key) => ['--search-attribute', `${key.name}=Keyword`]);
}

export interface RunFilter {
  kind?: string;
  tier?: string;
  set?: string;
  outcome?: string;
}

/** A visibility query (the Web UI's query box speaks the same) for the runs matching every given field. */
export function runsQuery(filter: RunFilter): string {
  const clauses: string[] = [];
  const add = (name: string, value: string | undefined) => {
    if (value !== undefined && value !== '') clauses.push(`${name} = ${quote(value)}`);
  };
  add(RUN_KIND.name, filter.kind);
  add(BACKUP_TIER.name, filter.tier);
  add(BACKUP_SET.name, filter.set);
  add(BACKUP_OUTCOME.name, filter.outcome);
  // Every run of this tool carries its kind; other workflows in the namespace stay out of the list.
  if (filter.kind === undefined || filter.kind === '') clauses.unshift(`${RUN_KIND.name} IS NOT NULL`);
  return clauses.join(' AND ');
}

function quote(value: string): string {
  return `'${value.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}
