/**
 * The record of a set's offsite copy: where it is, when it was copied and when it was last read back.
 * Kept beside the sets (`prefix/.records/<set>.json`), so the sealed set and its manifest are never
 * rewritten and every host sees the same record.
 */
import { hostname } from 'node:os';
import { GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { z } from 'zod';
import { recordKey } from '../../core/offsite';
import { call, isMissing, setUrl, type OffsiteBucket } from './client';

const recordSchema = z.object({
  set: z.string(),
  url: z.string(),
  copiedAt: z.string(),
  copiedBy: z.string(),
  /** `both` in records written before `server-md5` existed. */
  checkedBy: z.enum(['server-sha256', 'server-md5', 'read-back', 'mixed', 'both']),
  /** Every full read-back of the set, newest last. */
  checks: z.array(z.object({ at: z.string(), by: z.string(), result: z.literal('ok') })),
});
export type CopyRecord = z.infer<typeof recordSchema>;

export async function readRecord(bucket: OffsiteBucket, setName: string): Promise<CopyRecord | undefined> {
  try {
    const response = await bucket.s3.send(new GetObjectCommand({ Bucket: bucket.bucket, Key: recordKey(bucket.prefix, setName) }));
    const parsed = recordSchema.safeParse(JSON.parse((await response.Body?.transformToString('utf8')) ?? ''));
    return parsed.success ? parsed.data : undefined;
  } catch (error) {
    if (isMissing(error) || error instanceof SyntaxError) return undefined;
    throw error;
  }
}

async function writeRecord(bucket: OffsiteBucket, record: CopyRecord): Promise<void> {
  await call(bucket, `writing the offsite record of ${record.set}`, () =>
    bucket.s3.send(
      new PutObjectCommand({
        Bucket: bucket.bucket,
        Key: recordKey(bucket.prefix, record.set),
        Body: `${JSON.stringify(record, null, 2)}\n`,
        ContentType: 'application/json',
      }),
    ),
  );
}

export async function recordCopy(bucket: OffsiteBucket, setName: string, checkedBy: CopyRecord['checkedBy']): Promise<void> {
  await writeRecord(bucket, { set: setName, url: setUrl(bucket, setName), copiedAt: new Date().toISOString(), copiedBy: hostname(), checkedBy, checks: [] });
}

/** Adds a full read-back to the record (creating one for a set copied by other means). */
export async function recordCheck(bucket: OffsiteBucket, setName: string): Promise<void> {
  const now = new Date().toISOString();
  const record = (await call(bucket, `reading the offsite record of ${setName}`, () => readRecord(bucket, setName))) ?? {
    set: setName,
    url: setUrl(bucket, setName),
    copiedAt: now,
    copiedBy: 'unknown',
    checkedBy: 'read-back' as const,
    checks: [],
  };
  record.checks = [...record.checks, { at: now, by: hostname(), result: 'ok' as const }].slice(-20);
  await writeRecord(bucket, record);
}
