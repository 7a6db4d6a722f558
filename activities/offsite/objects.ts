/** Object-level work shared by the offsite operations: listing a folder, reading an object back against its checksum, aborting uploads. */
import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import { AbortMultipartUploadCommand, GetObjectCommand, ListMultipartUploadsCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { ChecksumMismatch } from '../repository/errors';
import { call, isMissing, type OffsiteBucket } from './client';

export interface ObjectListing {
  key: string;
  bytes: number;
}

/** Every object whose key starts with `keyPrefix`, all pages. */
export async function listObjects(bucket: OffsiteBucket, keyPrefix: string): Promise<ObjectListing[]> {
  const objects: ObjectListing[] = [];
  let token: string | undefined;
  do {
    const page = await call(bucket, `listing ${bucket.url}`, () =>
      bucket.s3.send(new ListObjectsV2Command({ Bucket: bucket.bucket, Prefix: keyPrefix, ContinuationToken: token })),
    );
    for (const object of page.Contents ?? []) if (object.Key) objects.push({ key: object.Key, bytes: object.Size ?? 0 });
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  return objects;
}

/** The body of an object as a Node stream. */
export async function objectStream(bucket: OffsiteBucket, key: string, signal?: AbortSignal): Promise<Readable> {
  const response = await call(bucket, `reading s3://${bucket.bucket}/${key}`, () =>
    bucket.s3.send(new GetObjectCommand({ Bucket: bucket.bucket, Key: key }), { abortSignal: signal }),
  );
  return response.Body as Readable;
}

export async function objectText(bucket: OffsiteBucket, key: string): Promise<string> {
  const response = await call(bucket, `reading s3://${bucket.bucket}/${key}`, () => bucket.s3.send(new GetObjectCommand({ Bucket: bucket.bucket, Key: key })));
  return (await response.Body?.transformToString('utf8')) ?? '';
}

/**
 * Reads an object back and checks its size and SHA-256; the mismatch names the object. `sink` gets
 * every chunk (a download writes it to disk), `onBytes` the running count.
 */
export async function readBack(
  bucket: OffsiteBucket,
  key: string,
  expected: { bytes: number; sha256: string },
  options: { sink?: (chunk: Buffer) => Promise<void>; onBytes?: (bytes: number) => void; signal?: AbortSignal } = {},
): Promise<void> {
  const hash = createHash('sha256');
  let bytes = 0;
  const body = await objectStream(bucket, key, options.signal);
  try {
    for await (const chunk of body as AsyncIterable<Buffer>) {
      hash.update(chunk);
      bytes += chunk.length;
      options.onBytes?.(bytes);
      await options.sink?.(chunk);
    }
  } catch (error) {
    throw new ChecksumMismatch(`s3://${bucket.bucket}/${key}: reading it back failed (${(error as Error).message})`);
  }
  const where = `s3://${bucket.bucket}/${key}`;
  if (bytes !== expected.bytes) throw new ChecksumMismatch(`${where}: ${bytes} bytes offsite, ${expected.bytes} recorded`);
  const sha256 = hash.digest('hex');
  if (sha256 !== expected.sha256) throw new ChecksumMismatch(`${where}: sha256 ${sha256} offsite, ${expected.sha256} recorded (tampered or damaged)`);
}

/** The multipart uploads in progress under `keyPrefix`. */
export async function listUploads(bucket: OffsiteBucket, keyPrefix: string): Promise<{ key: string; uploadId: string }[]> {
  const uploads: { key: string; uploadId: string }[] = [];
  let keyMarker: string | undefined;
  let uploadIdMarker: string | undefined;
  for (;;) {
    let page;
    try {
      page = await call(bucket, `listing the uploads in progress under ${bucket.url}`, () =>
        bucket.s3.send(new ListMultipartUploadsCommand({ Bucket: bucket.bucket, Prefix: keyPrefix, KeyMarker: keyMarker, UploadIdMarker: uploadIdMarker })),
      );
    } catch (error) {
      // rclone answers NoSuchUpload (404) when there is none.
      if (isMissing(error)) return uploads;
      throw error;
    }
    for (const upload of page.Uploads ?? []) if (upload.Key && upload.UploadId) uploads.push({ key: upload.Key, uploadId: upload.UploadId });
    if (!page.IsTruncated) return uploads;
    keyMarker = page.NextKeyMarker;
    uploadIdMarker = page.NextUploadIdMarker;
  }
}

/** Aborts every multipart upload under `keyPrefix`, so no orphaned parts are left to pay for; returns how many. */
export async function abortUploads(bucket: OffsiteBucket, keyPrefix: string): Promise<number> {
  const uploads = await listUploads(bucket, keyPrefix);
  for (const upload of uploads) {
    await call(bucket, `aborting the upload of s3://${bucket.bucket}/${upload.key}`, () =>
      bucket.s3.send(new AbortMultipartUploadCommand({ Bucket: bucket.bucket, Key: upload.key, UploadId: upload.uploadId })),
    );
  }
  return uploads.length;
}
