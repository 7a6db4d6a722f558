/** probe: the server's version (GET /) and the collections in scope. */
import type { Config } from '../../core/config';
import type { StoreProbe } from '../../core/contract';
import { collectionNames, qdrantConnection, serverVersion } from './connection';

export async function probe(config: Config): Promise<StoreProbe> {
  const q = qdrantConnection(config);
  const { version, standin } = await serverVersion(q);
  const collections = await collectionNames(q);
  const details = [`Qdrant ${version} at ${q.where}${standin ? ' (the test stand-in, not a real Qdrant)' : ''}`];
  const configured = config.qdrant.collections;
  if (configured?.length) {
    const missing = configured.filter((name) => !collections.includes(name));
    details.push(`QDRANT_COLLECTIONS: ${configured.join(', ')}${missing.length ? ` (missing on the server: ${missing.join(', ')})` : ''}`);
  } else {
    details.push(`${collections.length} collections`);
  }
  return { serverVersion: version, details };
}
