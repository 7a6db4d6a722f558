/**
 * The sets in the bucket: listing them (complete or not, with sizes), reading one's manifest and
 * SHA256SUMS, and resolving `latest` or a name to a complete offsite set.
 */
import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import type { Config } from '../../core/config';
import { CHECKSUMS_FILE, MANIFEST_FILE, filesOf, formatChecksums, type FileEntry, type Manifest } from '../../core/manifest';
import { offsiteStatusOf, setKeyPrefix, type OffsiteSet } from '../../core/offsite';
import { isSetName } from '../../core/set-names';
import { ChecksumMismatch, SetNotFound } from '../repository/errors';
import { isVerified } from '../repository/prune';
import { parseManifest } from '../repository/sets';
import { call, isMissing, openBucket, setUrl, type OffsiteBucket } from './client';
import { listObjects, listUploads, objectText } from './objects';
import { readRecord } from './record';

export interface OffsiteSetListing extends OffsiteSet {
  manifest?: Manifest;
  /** Whether the backup read every file back before sealing it (the local prune's rule). */
  verified: boolean;
}

/** The names of the set folders under the prefix. */
async function setNames(bucket: OffsiteBucket): Promise<string[]> {
  const names: string[] = [];
  const base = bucket.prefix ? `${bucket.prefix}/` : '';
  let token: string | undefined;
  do {
    const page = await call(bucket, `listing ${bucket.url}`, () =>
      bucket.s3.send(new ListObjectsV2Command({ Bucket: bucket.bucket, Prefix: base, Delimiter: '/', ContinuationToken: token })),
    );
    for (const common of page.CommonPrefixes ?? []) {
      const name = common.Prefix?.slice(base.length).replace(/\/$/, '');
      if (name && isSetName(name)) names.push(name);
    }
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  return names;
}

/** The manifest object of a set, or undefined when it is not there (yet); a damaged one is a problem, not an absence. */
async function manifestOf(bucket: OffsiteBucket, name: string): Promise<{ manifest?: Manifest; text?: string; problem?: string }> {
  let text: string;
  try {
    text = await objectText(bucket, `${setKeyPrefix(bucket.prefix, name)}${MANIFEST_FILE}`);
  } catch (error) {
    if (isMissing(error)) return {};
    throw error;
  }
  try {
    return { manifest: parseManifest(text, setUrl(bucket, name)), text };
  } catch (error) {
    return { problem: (error as Error).message };
  }
}

export async function listOffsiteSetsIn(bucket: OffsiteBucket): Promise<OffsiteSetListing[]> {
  const base = bucket.prefix ? `${bucket.prefix}/` : '';
  // A set whose first file is still going up in parts has no object yet, only an upload.
  const uploading = new Set((await listUploads(bucket, base)).map((upload) => upload.key.slice(base.length).split('/')[0]!).filter(isSetName));
  const names = [...new Set([...(await setNames(bucket)), ...uploading])];
  const listings = await Promise.all(
    names.map(async (name): Promise<OffsiteSetListing | undefined> => {
      const folder = setKeyPrefix(bucket.prefix, name);
      const objects = await listObjects(bucket, folder);
      // A folder without objects or uploads is what a deleted set can leave on file-backed servers: no set.
      if (objects.length === 0 && !uploading.has(name)) return undefined;
      const sizes = new Map(objects.map((object) => [object.key.slice(folder.length), object.bytes]));
      const { manifest, problem } = await manifestOf(bucket, name);
      const record = await call(bucket, `reading the offsite record of ${name}`, () => readRecord(bucket, name));
      const status = problem ? { status: 'incomplete' as const, problem } : offsiteStatusOf(manifest, sizes, manifest ? filesOf(manifest) : []);
      return {
        name,
        ...status,
        tier: manifest?.tier,
        bytes: objects.reduce((sum, object) => sum + object.bytes, 0),
        objects: objects.length,
        copiedAt: record?.copiedAt,
        checkedAt: record?.checks.at(-1)?.at,
        manifest,
        verified: manifest !== undefined && isVerified(manifest),
      };
    }),
  );
  return listings.filter((listing) => listing !== undefined).sort((a, b) => b.name.localeCompare(a.name));
}

/** Every set in the bucket, newest first, complete or not, with sizes and the record's dates. */
export async function listOffsiteSets(config: Config): Promise<OffsiteSet[]> {
  const bucket = openBucket(config);
  try {
    return (await listOffsiteSetsIn(bucket)).map(({ manifest: _manifest, verified: _verified, ...set }) => set);
  } finally {
    bucket.s3.destroy();
  }
}

/**
 * `latest` (the newest complete offsite set) or a set name, with its manifest and data files; the
 * offsite SHA256SUMS must list exactly the manifest's files.
 */
export interface OffsiteSetContent {
  name: string;
  manifest: Manifest;
  manifestText: string;
  files: FileEntry[];
  checksums: string;
}

export async function resolveOffsiteSet(bucket: OffsiteBucket, reference: string): Promise<OffsiteSetContent> {
  let name = reference.trim().replace(/\/+$/, '');
  if (name === 'latest') {
    const newest = (await listOffsiteSetsIn(bucket)).find((set) => set.status === 'complete');
    if (!newest) throw new SetNotFound(`no complete backup set in ${bucket.url}`);
    name = newest.name;
  } else if (!isSetName(name)) {
    throw new SetNotFound(`"${reference}" is not a backup set name or latest`);
  }
  const { manifest, text, problem } = await manifestOf(bucket, name);
  if (problem) throw new ChecksumMismatch(problem);
  if (!manifest || text === undefined) throw new SetNotFound(`backup set ${name} is not complete in ${bucket.url} (no ${MANIFEST_FILE})`);
  const files = filesOf(manifest);
  let checksums: string;
  try {
    checksums = await objectText(bucket, `${setKeyPrefix(bucket.prefix, name)}${CHECKSUMS_FILE}`);
  } catch (error) {
    if (isMissing(error)) throw new ChecksumMismatch(`${setUrl(bucket, name)}${CHECKSUMS_FILE} is missing`);
    throw error;
  }
  if (checksums !== formatChecksums(files)) throw new ChecksumMismatch(`${setUrl(bucket, name)}${CHECKSUMS_FILE} does not match ${MANIFEST_FILE}`);
  return { name, manifest, manifestText: text, files, checksums };
}
