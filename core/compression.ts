/**
 * How a set's files are compressed. gzip keeps the specification's file names (`.sql.gz`, `.rdb.gz`,
 * `.tar.gz`); zstd (`.zst`) is several times faster at a better ratio. Encrypted files are compressed
 * first, then encrypted, and end in `.age` (`.rdb.gz.age`, `.sql.custom.age`). Readers go by the file
 * name, so a restore handles sets of any kind.
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

export const ENCRYPTED_SUFFIX = '.age';

/** A file in the age format: its content must be decrypted before it is decompressed. */
export function isEncryptedFile(name: string): boolean {
  return name.endsWith(ENCRYPTED_SUFFIX);
}

/**
 * The stored name of a data file: compressed (when `compression` is given) and then encrypted.
 * `redis_<stamp>.rdb` → `redis_<stamp>.rdb.gz.age`; a PostgreSQL custom archive, compressed by
 * pg_dump itself, → `postgres_<stamp>.sql.custom.age`.
 */
export function storedFileName(name: string, compression: Pick<Compression, 'algorithm'> | undefined, encrypted: boolean): string {
  const compressed = compression ? compressedName(name, compression) : name;
  return encrypted ? `${compressed}${ENCRYPTED_SUFFIX}` : compressed;
}

/** The algorithm a stored file was compressed with (before any encryption), from its name; undefined for files stored uncompressed. */
export function algorithmOfFile(name: string): CompressionAlgorithm | undefined {
  const plain = isEncryptedFile(name) ? name.slice(0, -ENCRYPTED_SUFFIX.length) : name;
  if (plain.endsWith('.gz')) return 'gzip';
  if (plain.endsWith('.zst')) return 'zstd';
  return undefined;
}
