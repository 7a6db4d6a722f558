/**
 * Deleting offsite sets: one on request, or those the retention policy gives up. The manifest goes
 * first, so a set being deleted reads as incomplete, never as complete with files missing.
 */
import { DeleteObjectCommand, DeleteObjectsCommand } from '@aws-sdk/client-s3';
import type { Config } from '../../core/config';
import { MANIFEST_FILE } from '../../core/manifest';
import { planOffsiteRetention, recordKey, setKeyPrefix, type OffsitePruneResult } from '../../core/offsite';
import { isSetName } from '../../core/set-names';
import type { Tier } from '../../core/tiers';
import { SetNotFound } from '../repository/errors';
import { call, openBucket, type OffsiteBucket } from './client';
import { abortUploads, listObjects } from './objects';
import { listOffsiteSetsIn } from './sets';

async function deleteSetIn(bucket: OffsiteBucket, setName: string): Promise<void> {
  const folder = setKeyPrefix(bucket.prefix, setName);
  const objects = await listObjects(bucket, folder);
  const uploadsAborted = await abortUploads(bucket, folder);
  if (objects.length === 0 && uploadsAborted === 0) throw new SetNotFound(`backup set ${setName} not found in ${bucket.url}`);
  const manifestKey = `${folder}${MANIFEST_FILE}`;
  if (objects.some((object) => object.key === manifestKey)) {
    await call(bucket, `deleting s3://${bucket.bucket}/${manifestKey}`, () => bucket.s3.send(new DeleteObjectCommand({ Bucket: bucket.bucket, Key: manifestKey })));
  }
  const rest = [...objects.filter((object) => object.key !== manifestKey).map((object) => object.key), recordKey(bucket.prefix, setName)];
  for (let start = 0; start < rest.length; start += 1000) {
    const batch = rest.slice(start, start + 1000);
    const response = await call(bucket, `deleting ${setName} from ${bucket.url}`, () =>
      bucket.s3.send(new DeleteObjectsCommand({ Bucket: bucket.bucket, Delete: { Objects: batch.map((Key) => ({ Key })), Quiet: true } })),
    );
    const failed = response.Errors?.[0];
    if (failed) throw new Error(`deleting s3://${bucket.bucket}/${failed.Key} failed: ${failed.Code ?? 'error'}`);
  }
}

export async function deleteOffsiteSet(config: Config, setName: string): Promise<void> {
  if (!isSetName(setName)) throw new SetNotFound(`"${setName}" is not a backup set name`);
  const bucket = openBucket(config);
  try {
    await deleteSetIn(bucket, setName);
  } finally {
    bucket.s3.destroy();
  }
}

/**
 * Offsite retention, the local rule with the offsite days (BACKUP_OFFSITE_*_RETENTION, defaulting to
 * the local ones): never the last good set of a tier. With `apply` false it only decides (dry run).
 */
export async function pruneOffsite(config: Config, now: Date, options: { tiers?: readonly Tier[]; apply: boolean }): Promise<OffsitePruneResult> {
  const bucket = openBucket(config);
  try {
    const sets = await listOffsiteSetsIn(bucket);
    const decisions = planOffsiteRetention(sets, { days: bucket.config.retentionDays }, now, { tiers: options.tiers });
    const deleted: string[] = [];
    if (options.apply) {
      for (const decision of decisions) {
        if (decision.action !== 'delete') continue;
        await deleteSetIn(bucket, decision.name);
        deleted.push(decision.name);
      }
    }
    return { decisions, deleted };
  } finally {
    bucket.s3.destroy();
  }
}
