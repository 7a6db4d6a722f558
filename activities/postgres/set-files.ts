/** The files a PostgreSQL backup puts in a set, and how a restore finds them again. */
import { join } from 'node:path';
import type { Compression } from '../../core/compression';
import type { Config } from '../../core/config';
import type { FileEntry } from '../../core/manifest';
import { dataFileName, type DataFileEncoding } from '../data-file-streams';
import { VerificationFailed } from '../repository/errors';
import { setDirectory } from '../repository/sets';

export const POSTGRES_FILE_ROLES = { custom: 'custom-dump', plain: 'plain-sql', globals: 'globals-sql' } as const;

/**
 * With gzip, the custom dump is pg_dump's own (zlib) archive, `postgres_<stamp>.sql.custom`, as the
 * specification names it; with zstd, pg_dump writes it uncompressed and zstd compresses the stream
 * (`.sql.custom.zst`), which is several times faster. Encrypted, every name gets `.age` after that.
 */
export function postgresFileNames(stamp: string, encoding: PostgresEncoding) {
  return {
    custom: dataFileName(`postgres_${stamp}.sql.custom`, customArchiveEncoding(encoding)),
    plain: dataFileName(`postgres_${stamp}.sql`, encoding),
    globals: dataFileName(`postgres_${stamp}_globals.sql`, encoding),
  };
}

/** How a PostgreSQL backup stores its files: the configured compression, encrypted to `recipients` (none: not encrypted). */
export interface PostgresEncoding extends DataFileEncoding {
  compression: Compression;
}

/** The custom archive's own encoding: with gzip, pg_dump compresses it itself, so only encryption remains. */
export function customArchiveEncoding(encoding: PostgresEncoding): DataFileEncoding {
  return encoding.compression.algorithm === 'gzip' ? { recipients: encoding.recipients } : encoding;
}

export function fileOf(files: readonly FileEntry[], role: string): FileEntry {
  const file = files.find((entry) => entry.role === role);
  if (!file) throw new VerificationFailed(`the set has no PostgreSQL file of role ${role}`);
  return file;
}

/** Where a sealed set's file of `role` is, or undefined when the set has none. */
export function sealedFile(config: Config, source: { setName: string; files: readonly FileEntry[] }, role: string): string | undefined {
  const file = source.files.find((entry) => entry.role === role);
  return file && join(setDirectory(config.backupDir, source.setName, 'sealed'), file.name);
}

export function sealedArchive(config: Config, source: { setName: string; files: readonly FileEntry[] }): string {
  return join(setDirectory(config.backupDir, source.setName, 'sealed'), fileOf(source.files, POSTGRES_FILE_ROLES.custom).name);
}
