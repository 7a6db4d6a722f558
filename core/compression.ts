/**
 * How a set's files are compressed. gzip keeps the specification's file names (`.sql.gz`, `.rdb.gz`,
 * `.tar.gz`); zstd (`.zst`) is several times faster at a better ratio. Readers go by the file name, so
 * a restore handles sets of either kind.
 */
export type CompressionAlgorithm = 'gzip' | 'zstd';

export interface Compression {
  algorithm: CompressionAlgorithm;
  level: number;
}

export const DEFAULT_LEVEL: Record<CompressionAlgorithm, number> = { gzip: 6, zstd: 3 };
export const LEVEL_RANGE: Record<CompressionAlgorithm, [number, number]> = { gzip: [1, 9], zstd: [1, 19] };
const SUFFIX: Record<CompressionAlgorithm, string> = { gzip: '.gz', zstd: '.zst' };

/** `redis_<stamp>.rdb` → `redis_<stamp>.rdb.gz` or `.rdb.zst`. */
export function compressedName(name: string, compression: Pick<Compression, 'algorithm'>): string {
  return `${name}${SUFFIX[compression.algorithm]}`;
}

/** The algorithm a stored file was written with, from its name; undefined for files stored as they are. */
export function algorithmOfFile(name: string): CompressionAlgorithm | undefined {
  if (name.endsWith('.gz')) return 'gzip';
  if (name.endsWith('.zst')) return 'zstd';
  return undefined;
}
