/**
 * backup: one snapshot per collection (snapshots.ts), streamed from the server straight into the set's
 * `qdrant_<stamp>/qdrant_snapshot.tar.gz` while its sha256 is checked against the one Qdrant reports,
 * then deleted from the server. `collections.json` (server version, configs, payload indexes, exact
 * point counts, aliases, checksums) is the archive's first entry.
 */
import { createReadStream } from 'node:fs';
import { mkdir, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Config } from '../../core/config';
import type { StagedSet, StoreBackupResult } from '../../core/contract';
import type { FileEntry } from '../../core/manifest';
import { fsyncPath, setDirectory } from '../repository/sets';
import type { ProgressReporter } from '../heartbeat';
import { encryptionChecks } from '../data-file-streams';
import { recipientsOf } from '../encryption';
import { archiveFileName, ARCHIVE_ROLE, snapshotChecks, snapshotEntryName, writeArchive, type ArchiveSource } from './archive';
import { collectionsIndex, describeAliases, INDEX_FILE } from './collections-index';
import { aliasList, downloadSnapshot, qdrantConnection, serverVersion } from './connection';
import { collectionsInScope } from './scope';
import { checkContentLength, downloadSnapshotToFile, reportedChecksum, ServerSnapshots, snapshotEach, snapshotMismatch } from './snapshots';

/** `qdrant_<stamp>`, the set's Qdrant folder, as the specification names it. */
function qdrantFolderName(stamp: string): string {
  return `qdrant_${stamp}`;
}

export async function backup(config: Config, set: StagedSet, progress: ProgressReporter): Promise<StoreBackupResult> {
  const q = qdrantConnection(config);
  const signal = progress.signal;
  const folder = qdrantFolderName(set.stamp);
  const dir = join(setDirectory(config.backupDir, set.name, 'staging'), folder);
  const encoding = { compression: config.compression, recipients: await recipientsOf(config) };
  const archiveFile = archiveFileName(encoding);
  const archivePath = join(dir, archiveFile);

  const { version } = await serverVersion(q, signal);
  const names = await collectionsInScope(q, config, signal, true);
  const aliases = await aliasList(q, signal);
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  const notes: string[] = [];
  const onServer = new ServerSnapshots(q);

  try {
    // Every snapshot is made first, back to back (the collections' points in time stay close), so that
    // collections.json, with each snapshot's size and sha256, can be the archive's first entry.
    const sources: ArchiveSource[] = [];
    const recorded = await progress.timed('creating snapshots', () =>
      snapshotEach(q, names, onServer, progress, async (name, description, i) => {
        const entryName = snapshotEntryName(name);
        const reported = reportedChecksum(description);
        if (reported === undefined) {
          // Without Qdrant's checksum the sha256 must be known before the archive starts: fetch the file first.
          notes.push(`Qdrant reported no checksum for the snapshot of ${name}; its sha256 was computed from the download`);
          progress.phase(`downloading snapshot of ${name}`);
          const file = join(dir, `.download-${i}.snapshot`);
          const actual = await downloadSnapshotToFile(q, name, description, file, progress);
          await onServer.delete(name, signal);
          sources.push({
            entryName,
            size: actual.bytes,
            sha256: actual.sha256,
            open: async () => createReadStream(file, { highWaterMark: 1 << 20 }),
            mismatch: (changed) => new Error(`collection "${name}": the downloaded snapshot changed on disk (${changed.bytes} bytes, sha256 ${changed.sha256})`),
            done: () => rm(file, { force: true }),
          });
          return { file: entryName, ...actual };
        }
        sources.push({
          entryName,
          size: description.size,
          sha256: reported,
          open: async () => {
            progress.phase(`downloading snapshot of ${name}`);
            const response = await downloadSnapshot(q, name, description.name, signal);
            checkContentLength(name, description, response.headers['content-length']);
            return response;
          },
          mismatch: (actual) => snapshotMismatch(name, description, actual),
          done: () => onServer.delete(name, signal).catch(() => undefined), // retried, and noted, after the archive
        });
        return { file: entryName, sha256: reported, bytes: description.size };
      }),
    );
    const index = collectionsIndex(config, version, recorded, aliases);
    const written = await progress.timed('downloading snapshots', () =>
      writeArchive(archivePath, index, sources, { encoding, signal, onSnapshotBytes: (_entry, bytes) => progress.bytes(bytes) }),
    );
    await fsyncPath(archivePath);
    await fsyncPath(dir);
    notes.push(...(await onServer.deleteAll()));
    const points = recorded.reduce((sum, c) => sum + c.points, 0);
    const moving = recorded.flatMap((c) => (c.pointsRange ? [`${c.name} (${c.pointsRange[0]} to ${c.pointsRange[1]})`] : []));
    notes.unshift(
      names.length === 0
        ? 'Qdrant has no collections: the archive holds only collections.json'
        : `${names.length} collections, ${points} points; snapshots of Qdrant ${version}, checked against Qdrant's sha256 and deleted from the server`,
      aliases.length ? `aliases: ${describeAliases(aliases)}` : 'no aliases',
      ...(moving.length ? [`points were written while these snapshots were taken, their counts are recorded as ranges: ${moving.join(', ')}`] : []),
    );
    const file: FileEntry = { name: `${folder}/${archiveFile}`, bytes: written.bytes, sha256: written.sha256, role: ARCHIVE_ROLE };
    return {
      serverVersion: version,
      files: [file],
      summary: { unit: 'points', counts: Object.fromEntries(recorded.map((c) => [c.name, c.points])) },
      // Made on the plaintext while it was written, so the workflow needs no read-back (nor, encrypted, the identity).
      checks: [
        `${file.name}: written as a tar, every snapshot walked to its end as it streamed in; ${INDEX_FILE} lists ${index.collections.length} collections`,
        ...snapshotChecks(file.name, index, written.snapshots),
        ...encryptionChecks([file.name], encoding),
      ],
      notes,
      phases: progress.timings,
    };
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw error;
  } finally {
    // Nothing made here stays on the server, whatever failed (without the signal: also when cancelled).
    await onServer.deleteAll();
    await rmScratchDownloads(dir);
  }
}

async function rmScratchDownloads(dir: string): Promise<void> {
  const entries = await readdir(dir).catch(() => [] as string[]);
  await Promise.all(entries.filter((e) => e.startsWith('.download-')).map((e) => rm(join(dir, e), { force: true })));
}
