import type { FileEntry } from '../../core/manifest';
import { dataFileName, type DataFileEncoding } from '../data-file-streams';
import { VerificationFailed } from '../repository/errors';

export const REDIS_FILE_ROLE = 'rdb';

/** `redis_<stamp>.rdb.gz` as the specification names it, or `.rdb.zst`; `.age` after either when encrypted. */
export function redisFileName(stamp: string, encoding: DataFileEncoding): string {
  return dataFileName(`redis_${stamp}.rdb`, encoding);
}

export function rdbFileOf(files: readonly FileEntry[]): FileEntry {
  const file = files.find((entry) => entry.role === REDIS_FILE_ROLE);
  if (!file) throw new VerificationFailed('the set has no Redis RDB file');
  return file;
}
