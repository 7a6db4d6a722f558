/** The stores a backup set can hold. Adding a store means one adapter in activities/ and one entry here. */
export const STORE_NAMES = ['postgres', 'redis', 'qdrant'] as const;
export type StoreName = (typeof STORE_NAMES)[number];

/**
 * Stores whose restore stage reads every file the restore reads to its end and checks its counts
 * against the manifest (PostgreSQL: pg_restore into the fresh database beside the target, then its
 * rows): that stage is their deep check, so a restore does not read those files a second time beside it.
 */
export const STORES_CHECKED_BY_THEIR_STAGE: readonly StoreName[] = ['postgres'];

export const STORE_LABELS: Record<StoreName, string> = {
  postgres: 'PostgreSQL',
  redis: 'Redis',
  qdrant: 'Qdrant',
};

/** Environment variable that locates each store; activities read it, workflows never see it. */
export const STORE_URL_VARIABLES: Record<StoreName, string> = {
  postgres: 'POSTGRES_URL',
  redis: 'REDIS_URL',
  qdrant: 'QDRANT_URL',
};

export function isStoreName(value: string): value is StoreName {
  return (STORE_NAMES as readonly string[]).includes(value);
}

/** Parses `postgres,redis` into a de-duplicated list in canonical order; throws on any unknown name. */
export function parseComponents(text: string): StoreName[] {
  const names = text
    .split(',')
    .map((part) => part.trim())
    .filter((part) => part.length > 0);
  if (names.length === 0) throw new RangeError(`no component given; choose from ${STORE_NAMES.join(', ')}`);
  for (const name of names) {
    if (!isStoreName(name)) {
      throw new RangeError(`unknown component "${name}"; choose from ${STORE_NAMES.join(', ')}`);
    }
  }
  return STORE_NAMES.filter((store) => names.includes(store));
}

export function capitalize<S extends string>(text: S): Capitalize<S> {
  return (text.charAt(0).toUpperCase() + text.slice(1)) as Capitalize<S>;
}
