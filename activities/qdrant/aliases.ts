/**
 * Bringing the server's aliases to a wanted state. A real Qdrant applies the actions of one
 * `POST /collections/aliases` one by one, each saved (`update_aliases` in its table of content): a
 * failing action keeps those before it, so no request is atomic. Each action is therefore sent alone,
 * deletes first, and every change is computed from the server's current aliases: a run that stopped
 * midway, and the rollback after it, start from whatever state the server is in and end in the wanted one.
 */
import { aliasKey, type Alias } from './collections-index';
import { aliasList, updateAliases, type AliasAction, type QdrantConnection } from './connection';

/**
 * Removes aliases that are `managed` (or named like a desired one) but not desired, then creates the
 * missing desired ones, one request per action. Returns one line per change.
 */
export async function syncAliases(
  q: QdrantConnection,
  desired: readonly Alias[],
  managed: (alias: Alias) => boolean,
  signal?: AbortSignal,
): Promise<string[]> {
  const current = await aliasList(q, signal);
  const wanted = new Set(desired.map(aliasKey));
  const wantedNames = new Set(desired.map((a) => a.alias_name));
  const present = new Set(current.map(aliasKey));
  const changes: { action: AliasAction; line: string }[] = [];
  for (const alias of current) {
    if ((managed(alias) || wantedNames.has(alias.alias_name)) && !wanted.has(aliasKey(alias))) {
      changes.push({ action: { delete_alias: { alias_name: alias.alias_name } }, line: `removed alias ${alias.alias_name} → ${alias.collection_name}` });
    }
  }
  for (const alias of desired) {
    if (!present.has(aliasKey(alias))) {
      changes.push({
        action: { create_alias: { alias_name: alias.alias_name, collection_name: alias.collection_name } },
        line: `created alias ${alias.alias_name} → ${alias.collection_name}`,
      });
    }
  }
  const done: string[] = [];
  for (const change of changes) {
    try {
      await updateAliases(q, [change.action], signal);
    } catch (error) {
      const soFar = done.length ? `; done before it: ${done.join(', ')}` : '';
      throw Object.assign(new Error(`${(error as Error).message} (alias change "${change.line}" failed${soFar})`), { name: (error as Error).name });
    }
    done.push(change.line);
  }
  return done;
}

/** Removes aliases named like one of `collections`, which would otherwise redirect a recovery. */
export async function removeAliasesNamedLike(q: QdrantConnection, collections: ReadonlySet<string>, signal?: AbortSignal): Promise<string[]> {
  const clashing = (await aliasList(q, signal)).filter((a) => collections.has(a.alias_name));
  for (const alias of clashing) await updateAliases(q, [{ delete_alias: { alias_name: alias.alias_name } }], signal);
  return clashing.map((a) => `removed alias ${a.alias_name} → ${a.collection_name} (a collection of that name is restored)`);
}

/** Aliases of `desired` that are not on the server. */
export async function missingAliases(q: QdrantConnection, desired: readonly Alias[], signal?: AbortSignal): Promise<string[]> {
  const current = new Set((await aliasList(q, signal)).map(aliasKey));
  return desired.filter((a) => !current.has(aliasKey(a))).map((a) => `alias ${a.alias_name} → ${a.collection_name} is missing`);
}
