/**
 * Registers the project's search attributes (core/search-attributes.ts) in the namespace. The
 * dev server starts with them; a long-lived dev-server database or a production cluster may predate
 * them, so the worker (and `schedules apply`) make sure at start. Idempotent: attributes already
 * there are left alone. A server that refuses (no operator permission, Temporal Cloud) is a warning
 * with the command an administrator runs once, never a crash: runs then start without the
 * attributes, and the workflows only upsert attributes a run was started with.
 */
import { temporal } from '@temporalio/proto';
import { SEARCH_ATTRIBUTES } from '../core/search-attributes';

type OperatorService = Pick<temporal.api.operatorservice.v1.OperatorService, 'listSearchAttributes' | 'addSearchAttributes'>;

const KEYWORD = temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD;
/** gRPC status codes. */
const ALREADY_EXISTS = 6;

export interface SearchAttributeRegistration {
  /** Every attribute of the project is usable in the namespace. */
  ready: boolean;
  /** Added now. */
  added: string[];
  /** Why not ready, one line with what to do. */
  warning?: string;
}

export async function ensureSearchAttributes(connection: { operatorService: OperatorService }, namespace: string): Promise<SearchAttributeRegistration> {
  const names = SEARCH_ATTRIBUTES.map((key) => key.name);
  const createCommand = names.map((name) => `temporal operator search-attribute create --namespace ${namespace} --name ${name} --type Keyword`).join('; ');
  let existing: Record<string, number>;
  try {
    existing = await customAttributes(connection, namespace);
  } catch (error) {
    return { ready: false, added: [], warning: `cannot list the search attributes of namespace ${namespace} (${oneLine(error)}); if ${names.join(', ')} are missing, runs start without them: ${createCommand}` };
  }
  const wrongType = names.filter((name) => name in existing && existing[name] !== KEYWORD);
  if (wrongType.length > 0) {
    return { ready: false, added: [], warning: `search attributes ${wrongType.join(', ')} exist in namespace ${namespace} with another type than Keyword; runs start without the project's attributes` };
  }
  const missing = names.filter((name) => !(name in existing));
  if (missing.length === 0) return { ready: true, added: [] };
  try {
    await connection.operatorService.addSearchAttributes({
      namespace,
      searchAttributes: Object.fromEntries(missing.map((name) => [name, KEYWORD])),
    });
  } catch (error) {
    if ((error as { code?: number }).code !== ALREADY_EXISTS) {
      return {
        ready: false,
        added: [],
        warning: `cannot register the search attributes ${missing.join(', ')} in namespace ${namespace} (${oneLine(error)}); runs start without them until an administrator runs: ${createCommand}`,
      };
    }
  }
  // Some visibility stores take a moment before a new attribute can be used.
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    const now = await customAttributes(connection, namespace).catch(() => ({}) as Record<string, number>);
    if (missing.every((name) => name in now)) return { ready: true, added: missing };
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  return { ready: false, added: [], warning: `the search attributes ${missing.join(', ')} were registered in namespace ${namespace} but are not listed yet; runs start without them meanwhile` };
}

async function customAttributes(connection: { operatorService: OperatorService }, namespace: string): Promise<Record<string, number>> {
  const response = await connection.operatorService.listSearchAttributes({ namespace });
  return Object.fromEntries(Object.entries(response.customAttributes ?? {}).map(([name, type]) => [name, Number(type)]));
}

function oneLine(error: unknown): string {
  return ((error as Error).message ?? String(error)).split('\n')[0]!;
}
