/**
 * A sealed backup set of random (incompressible) files, made by the repository's own code (stageSet,
 * sealSet): what the offsite tests and the offsite bench copy when no real backup is needed. Files
 * are written in 1 MiB chunks, so a set of gigabytes needs no memory of that size.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, open } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { FileEntry } from '../core/manifest';
import type { Tier } from '../core/tiers';
import { sealSet, setDirectory, stageSet } from '../activities/repository/sets';

const CHUNK = 1024 * 1024;

/** The last file of several sits one folder down, like Qdrant's snapshots. */
export async function writeSealedSet(
  backupDir: string,
  takenAt: Date,
  sizes: number[],
  tier: Tier = 'daily',
): Promise<{ name: string; path: string; files: FileEntry[] }> {
  const staged = await stageSet(backupDir, tier, takenAt);
  const dir = setDirectory(backupDir, staged.name, 'staging');
  const files: FileEntry[] = [];
  for (const [index, bytes] of sizes.entries()) {
    const name = index === sizes.length - 1 && sizes.length > 1 ? `qdrant_${staged.stamp}/qdrant_snapshot.tar.gz` : `postgres_${staged.stamp}.part${index}.sql.custom`;
    await mkdir(dirname(join(dir, name)), { recursive: true });
    const hash = createHash('sha256');
    const handle = await open(join(dir, name), 'w');
    try {
      for (let written = 0; written < bytes; written += CHUNK) {
        const chunk = randomBytes(Math.min(CHUNK, bytes - written));
        hash.update(chunk);
        await handle.write(chunk);
      }
    } finally {
      await handle.close();
    }
    files.push({ name, bytes, sha256: hash.digest('hex'), role: 'synthetic-data' });
  }
  const sealed = await sealSet(
    backupDir,
    {
      set: staged,
      stores: {
        postgres: {
          status: 'ok',
          serverVersion: '16.0',
          files,
          summary: { unit: 'rows', counts: { 'public.users': sizes.length } },
          checks: ['read back before sealing'],
          notes: ['synthetic set: random data, no real dump'],
          phases: [],
        },
      },
      startedAt: takenAt.toISOString(),
      workflow: { id: 'synthetic-set', runId: 'run' },
    },
    { name: 'scholaria-backup', version: 'synthetic' },
  );
  return { name: sealed.name, path: sealed.path, files };
}
