import { compressedName, type Compression } from '../../core/compression';
import type { FileEntry } from '../../core/manifest';
import { VerificationFailed } from '../repository/errors';

export const REDIS_FILE_ROLE = 'rdb';

/** `redis_<stamp>.rdb.gz` as the specification names it, or `.rdb.zst`. */
export function redisFileName(stamp: string, compression: Pick<Compression, 'algorithm'>): string {
  return compressedName(`redis_${stamp}.rdb`, compression);
}

export function rdbFileOf(files: readonly FileEntry[]): FileEntry {
  const file = files.find((entry) => entry.role === REDIS_FILE_ROLE);
  if (!file) throw new VerificationFailed('the set has no Redis RDB file');
  return file;
}
