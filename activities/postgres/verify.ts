/** Deep check of a set's PostgreSQL files alone: each read to its end by the tool that understands it, rows counted. */
import { basename, join } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { isEncryptedFile } from '../../core/compression';
import type { Config } from '../../core/config';
import type { StoreVerifyInput, StoreVerifyResult } from '../../core/contract';
import { summaryDifferences } from '../../core/manifest';
import { VerificationFailed } from '../repository/errors';
import { discard } from '../repository/hashing';
import { setDirectory } from '../repository/sets';
import { feedChild, spawnChecked } from '../child-process';
import { isStoredAsIs, readDataFile } from '../data-file-streams';
import { IDENTITY_VARIABLE, requireIdentityForFiles } from '../encryption';
import type { ProgressReporter } from '../heartbeat';
import { CopyRowCounter } from './copy-row-counter';
import { POSTGRES_FILE_ROLES } from './set-files';

/**
 * Reads every stored file to its end: the archive through pg_restore, the SQL files decrypted and
 * decompressed, rows counted. An encrypted set on a worker without an identity is refused at once with
 * EncryptionIdentityMissing: its checksums are all that can be checked there.
 */
export async function verify(config: Config, input: StoreVerifyInput, progress: ProgressReporter): Promise<StoreVerifyResult> {
  const dir = setDirectory(config.backupDir, input.setName, input.location);
  const byRole = (role: string) => input.files.find((file) => file.role === role);
  const custom = byRole(POSTGRES_FILE_ROLES.custom);
  if (!custom) throw new VerificationFailed('the set has no PostgreSQL custom-format dump');
  requireIdentityForFiles(config, input.files.map((file) => file.name));
  const encrypted = input.files.filter((file) => isEncryptedFile(file.name)).map((file) => file.name);
  const checks = encrypted.length > 0 ? [`${encrypted.join(', ')}: decrypted with ${IDENTITY_VARIABLE}, every age chunk authenticated`] : [];

  progress.phase('reading archive');
  const archiveCounts = await countArchiveRows(join(dir, custom.name), config, progress);
  checks.push(`${custom.name}: pg_restore read the whole archive (${Object.keys(archiveCounts).length} tables)`);

  const plain = byRole(POSTGRES_FILE_ROLES.plain);
  if (plain && input.depth === 'restore') {
    checks.push(`${plain.name}: not read again, the restore uses the custom dump (its checksum matched)`);
  } else if (plain) {
    progress.phase('reading plain SQL');
    const plainCounts = await countRowsOf(join(dir, plain.name), config, progress);
    const differences = summaryDifferences({ unit: 'rows', counts: archiveCounts }, { unit: 'rows', counts: plainCounts });
    if (differences.length > 0) {
      throw new VerificationFailed(`${plain.name}: rows differ from the custom dump: ${differences.slice(0, 3).join('; ')}`);
    }
    checks.push(`${plain.name}: decompressed to the end, same rows as the custom dump`);
  }
  const globals = byRole(POSTGRES_FILE_ROLES.globals);
  if (globals) {
    progress.phase('reading roles');
    await countRowsOf(join(dir, globals.name), config, progress);
    checks.push(`${globals.name}: decompressed to the end`);
  }
  return { checks, summary: { unit: 'rows', counts: archiveCounts } };
}

/** The archive, decrypted and decompressed on the way when it was stored so, read to its end by pg_restore. */
async function countArchiveRows(path: string, config: Config, progress: ProgressReporter): Promise<Record<string, number>> {
  const name = basename(path);
  const asIs = isStoredAsIs(name);
  const reader = spawnChecked('pg_restore', asIs ? ['--file=-', path] : ['--file=-'], {
    stdin: asIs ? 'ignore' : 'pipe',
    signal: progress.signal,
  });
  const counter = new CopyRowCounter((bytes) => progress.bytes(bytes));
  try {
    await Promise.all([
      reader.done,
      asIs ? undefined : feedChild(readDataFile(path, config, progress.signal), reader.process.stdin as Writable),
      pipeline(reader.process.stdout as Readable, counter, discard()),
    ]);
  } catch (error) {
    reader.process.kill('SIGKILL');
    throw new VerificationFailed(`${name}: the archive cannot be read to its end (${(error as Error).message})`);
  }
  return counter.counts;
}

async function countRowsOf(path: string, config: Config, progress: ProgressReporter): Promise<Record<string, number>> {
  const name = basename(path);
  const counter = new CopyRowCounter((bytes) => progress.bytes(bytes));
  try {
    await pipeline(readDataFile(path, config, progress.signal), counter, discard());
  } catch (error) {
    throw new VerificationFailed(`${name}: cannot be read to its end (${(error as Error).message})`);
  }
  return counter.counts;
}
