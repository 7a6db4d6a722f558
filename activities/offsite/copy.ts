/**
 * Copying a sealed set to the bucket: data files first (big ones as multipart uploads, parts in
 * parallel), then SHA256SUMS, then the manifest, so a set whose manifest object exists is whole. Every
 * object is checked: by the server against the SHA-256 sent with it where the server supports S3
 * checksums, by the server's MD5 of what it received (Content-MD5 and the ETags) where it does not,
 * and by reading it back only where neither answers. The upload id and the finished parts are
 * heartbeated, so a retry after a dead worker resumes the upload; a copy that is given up (cancelled,
 * or a non-retryable failure) aborts its multipart uploads.
 *
 * Not `@aws-sdk/lib-storage`'s `Upload`: it cannot continue an upload started by another process, which
 * is the point of the checkpoint; the part calls here are the same ones it makes.
 */
import { createHash } from 'node:crypto';
import { open, readFile, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  DeleteObjectsCommand,
  HeadObjectCommand,
  ListPartsCommand,
  PutObjectCommand,
  S3ServiceException,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { z } from 'zod';
import { CancelledFailure } from '@temporalio/common';
import type { Config } from '../../core/config';
import { CHECKSUMS_FILE, MANIFEST_FILE, filesOf, totalBytes, type FileEntry } from '../../core/manifest';
import { setKeyPrefix, type CopyCheckpoint, type OffsiteCopyResult } from '../../core/offsite';
import type { ProgressReporter } from '../heartbeat';
import { ChecksumMismatch } from '../repository/errors';
import { readManifest, setDirectory } from '../repository/sets';
import { BandwidthLimit } from './bandwidth';
import { call, offsiteError, openBucket, setUrl, type OffsiteBucket } from './client';
import { abortUploads, readBack } from './objects';
import { recordCopy } from './record';

/** Files up to this size go up in one request. */
const SINGLE_REQUEST_MAX = 16 * 1024 * 1024;
const PART_BYTES = 8 * 1024 * 1024;
/** S3 allows 10,000 parts; a file that would need more gets bigger parts. */
const MAX_PARTS = 9_000;
const PARTS_IN_FLIGHT = 4;

const checkpointSchema = z.object({
  set: z.string(),
  done: z.array(z.string()),
  upload: z
    .object({
      file: z.string(),
      uploadId: z.string().min(1),
      partSize: z.number().int().positive(),
      check: z.enum(['sha256', 'md5']).optional(),
      parts: z.array(z.object({ number: z.number().int().positive(), etag: z.string(), sha256: z.string().optional(), md5: z.string().optional() })),
    })
    .optional(),
});

/** The previous attempt's checkpoint, when it was copying this set. */
export function checkpointOf(previous: unknown, setName: string): CopyCheckpoint | undefined {
  const parsed = checkpointSchema.safeParse(previous);
  return parsed.success && parsed.data.set === setName ? parsed.data : undefined;
}

export interface CopyOptions {
  progress: ProgressReporter;
  /** From the previous attempt's heartbeat details (`previousCheckpoint()`), if any. */
  resumeFrom?: unknown;
  /** Shared by every set of one sync, so the limit holds for the whole run. */
  limit?: BandwidthLimit;
}

type CheckedBy = Exclude<OffsiteCopyResult['checkedBy'], 'mixed'>;
type UploadState = NonNullable<CopyCheckpoint['upload']>;
type Part = UploadState['parts'][number];
/** How an upload's parts are checked by the server (see `startUpload`); checkpoints from before `check` existed used SHA-256. */
type PartCheck = NonNullable<UploadState['check']>;

/** Copies `<BACKUP_DIR>/<set>/` to `s3://bucket/prefix/<set>/`. */
export async function copySetOffsite(config: Config, setName: string, options: CopyOptions): Promise<OffsiteCopyResult> {
  const bucket = openBucket(config);
  try {
    return await copyInto(bucket, config.backupDir, setName, { ...options, limit: options.limit ?? new BandwidthLimit(bucket.config.bandwidthBytesPerSecond) });
  } finally {
    bucket.s3.destroy();
  }
}

export async function copyInto(
  bucket: OffsiteBucket,
  backupDir: string,
  setName: string,
  options: CopyOptions & { limit: BandwidthLimit },
): Promise<OffsiteCopyResult> {
  const started = Date.now();
  const { progress, limit } = options;
  const local = setDirectory(backupDir, setName, 'sealed');
  const manifest = await readManifest(local);
  const files = filesOf(manifest);
  const folder = setKeyPrefix(bucket.prefix, setName);
  const resumed = checkpointOf(options.resumeFrom, setName);
  const checkpoint: CopyCheckpoint = resumed ?? { set: setName, done: [] };
  const copy = new SetCopy(bucket, folder, local, progress, limit, checkpoint);
  progress.phase(`copying ${setName} offsite`);
  const objects: FileEntry[] = [];

  try {
    if (!resumed) {
      // A fresh copy: leftovers of an attempt whose checkpoint never arrived are aborted, and a set
      // copied before reads as incomplete until this copy's manifest is up again.
      await abortUploads(bucket, folder);
      await call(bucket, `preparing ${setUrl(bucket, setName)}`, () =>
        bucket.s3.send(
          new DeleteObjectsCommand({ Bucket: bucket.bucket, Delete: { Objects: [{ Key: `${folder}${MANIFEST_FILE}` }, { Key: `${folder}${CHECKSUMS_FILE}` }], Quiet: true } }),
        ),
      );
    }
    // The two files that make the set complete go last, in this order.
    const index = await Promise.all(
      [CHECKSUMS_FILE, MANIFEST_FILE].map(async (name): Promise<FileEntry> => {
        const content = await readFile(join(local, name));
        return { name, bytes: content.length, sha256: createHash('sha256').update(content).digest('hex'), role: 'set-index' };
      }),
    );
    objects.push(...files, ...index);
    for (const file of objects) await copy.file(file);
  } catch (error) {
    if (isGivenUp(error, progress.signal)) await abandon(bucket, folder);
    throw error;
  }
  const checkedBy = copy.checkedBy.size > 1 ? 'mixed' : (copy.checkedBy.values().next().value ?? 'server-sha256');
  await recordCopy(bucket, setName, checkedBy);
  return {
    set: setName,
    url: setUrl(bucket, setName),
    objects: objects.length,
    bytes: totalBytes(objects),
    bytesSent: copy.bytesSent,
    resumed: { files: resumed?.done.length ?? 0, parts: copy.partsKept },
    checkedBy,
    seconds: (Date.now() - started) / 1000,
  };
}

/**
 * A copy is given up when the workflow cancelled it or when retrying cannot help (a checksum that does
 * not match, refused credentials); a dead worker, a shutdown or an unreachable server are retried and
 * resume, so their uploads stay.
 */
function isGivenUp(error: unknown, signal: AbortSignal): boolean {
  if (signal.aborted) return signal.reason instanceof CancelledFailure && signal.reason.message === 'CANCELLED';
  return error instanceof Error && (error.name === 'ChecksumMismatch' || error.name === 'ConfigError' || error.name === 'SetNotFound');
}

async function abandon(bucket: OffsiteBucket, folder: string): Promise<void> {
  try {
    await abortUploads(bucket, folder);
  } catch {
    // The copy's own failure is the one to report; `abandonOffsiteCopy` or the next copy of the set aborts these.
  }
}

/** Aborts the uploads of a set's copy that was given up; the workflow calls it after the copy's last attempt failed. */
export async function abandonCopy(config: Config, setName: string): Promise<{ aborted: number }> {
  const bucket = openBucket(config);
  try {
    return { aborted: await abortUploads(bucket, setKeyPrefix(bucket.prefix, setName)) };
  } finally {
    bucket.s3.destroy();
  }
}

const base64Of = (hex: string) => Buffer.from(hex, 'hex').toString('base64');
const digestOf = (algorithm: 'md5' | 'sha256', content: Buffer) => createHash(algorithm).update(content).digest('hex');
/**
 * S3-compatible servers answer an upload (an object in one request, or a part) with the MD5 of the
 * bytes they received as its ETag (not for SSE-KMS objects), and refuse a body that does not match
 * the Content-MD5 sent with it (BadDigest). An ETag equal to the MD5 of what was read is the proof
 * `rclone copy` relies on, and it costs no read-back.
 */
const receivedAsSent = (etag: string | undefined, md5: string) => etag?.replace(/"/g, '').toLowerCase() === md5;
/** S3's checksum (SHA-256) or ETag (MD5) of a multipart object: the digest of its parts' digests, then `-<parts>`. */
function compositeOf(algorithm: 'md5' | 'sha256', partDigests: string[], encoding: 'hex' | 'base64'): string {
  return `${createHash(algorithm).update(Buffer.concat(partDigests.map((digest) => Buffer.from(digest, 'hex')))).digest(encoding)}-${partDigests.length}`;
}
const isEvery = (values: (string | undefined)[]): values is string[] => values.every((value) => value !== undefined);

class SetCopy {
  bytesSent = 0;
  partsKept = 0;
  readonly checkedBy = new Set<CheckedBy>();
  private bytesDone = 0;

  constructor(
    private readonly bucket: OffsiteBucket,
    private readonly folder: string,
    private readonly local: string,
    private readonly progress: ProgressReporter,
    private readonly limit: BandwidthLimit,
    private readonly checkpoint: CopyCheckpoint,
  ) {}

  async file(file: FileEntry): Promise<void> {
    if (this.checkpoint.done.includes(file.name)) {
      this.advance(file.bytes);
      return;
    }
    const key = `${this.folder}${file.name}`;
    const checkedBy = file.bytes > SINGLE_REQUEST_MAX ? await this.inParts(file, key) : await this.whole(file, key);
    this.checkedBy.add(checkedBy);
    this.checkpoint.done.push(file.name);
    this.checkpoint.upload = undefined;
    this.progress.checkpoint(this.checkpoint);
  }

  private advance(bytes: number): void {
    this.bytesDone += bytes;
    this.progress.bytes(this.bytesDone);
  }

  private where(key: string): string {
    return `s3://${this.bucket.bucket}/${key}`;
  }

  private async whole(file: FileEntry, key: string): Promise<CheckedBy> {
    const content = await readFile(join(this.local, file.name));
    const sha256 = digestOf('sha256', content);
    if (sha256 !== file.sha256 || content.length !== file.bytes) {
      throw new ChecksumMismatch(`${file.name}: the local file no longer matches the set's checksum; it was not copied`);
    }
    const md5 = digestOf('md5', content);
    await this.limit.take(content.length, this.progress.signal);
    const response = await call(this.bucket, `uploading ${this.where(key)}`, () =>
      this.bucket.s3.send(
        new PutObjectCommand({
          Bucket: this.bucket.bucket,
          Key: key,
          Body: content,
          ContentLength: content.length,
          ContentMD5: base64Of(md5),
          ChecksumSHA256: base64Of(sha256),
        }),
        { abortSignal: this.progress.signal },
      ),
    );
    this.bytesSent += content.length;
    this.advance(content.length);
    if (response.ChecksumSHA256 === base64Of(sha256)) return 'server-sha256';
    if (receivedAsSent(response.ETag, md5)) return 'server-md5';
    await readBack(this.bucket, key, file, { signal: this.progress.signal });
    return 'read-back';
  }

  private async inParts(file: FileEntry, key: string): Promise<CheckedBy> {
    const previous = this.checkpoint.upload?.file === file.name ? this.checkpoint.upload : undefined;
    const partSize = previous?.partSize ?? Math.max(PART_BYTES, Math.ceil(file.bytes / MAX_PARTS));
    const kept = previous ? await this.partsStillThere(key, previous.uploadId, previous.parts) : undefined;
    const { uploadId, check } = kept !== undefined && previous ? { uploadId: previous.uploadId, check: previous.check ?? 'sha256' } : await this.startUpload(key);
    const parts = new Map((kept ?? []).map((part) => [part.number, part]));
    const save = () => {
      this.checkpoint.upload = { file: file.name, uploadId, partSize, check, parts: [...parts.values()].sort((a, b) => a.number - b.number) };
      this.progress.checkpoint(this.checkpoint);
    };
    save();

    const whole = createHash('sha256');
    const handle = await open(join(this.local, file.name));
    const inFlight = new Set<Promise<void>>();
    // One buffer per part in flight, plus the one being read, reused: memory stays at about five parts.
    const buffers: Buffer[] = [];
    let failure: unknown;
    const partCount = Math.ceil(file.bytes / partSize);
    try {
      for (let number = 1; number <= partCount && failure === undefined; number++) {
        while (inFlight.size >= PARTS_IN_FLIGHT) await Promise.race(inFlight);
        const buffer = buffers.pop() ?? Buffer.allocUnsafe(partSize);
        const content = await readPart(handle, buffer, (number - 1) * partSize, Math.min(partSize, file.bytes - (number - 1) * partSize));
        whole.update(content);
        const digest = digestOf(check, content);
        if (parts.get(number)?.[check] === digest) {
          buffers.push(buffer);
          this.partsKept++;
          this.advance(content.length);
          continue;
        }
        const sending: Promise<void> = this.sendPart(key, uploadId, number, content, { [check]: digest })
          .then((part) => {
            parts.set(number, part);
            save();
          })
          .catch((error: unknown) => {
            failure ??= error;
          })
          .finally(() => {
            inFlight.delete(sending);
            buffers.push(buffer);
          });
        inFlight.add(sending);
      }
      await Promise.all(inFlight);
    } finally {
      await handle.close();
    }
    if (failure !== undefined) throw failure;
    if (whole.digest('hex') !== file.sha256) {
      await call(this.bucket, `aborting the upload of ${this.where(key)}`, () =>
        this.bucket.s3.send(new AbortMultipartUploadCommand({ Bucket: this.bucket.bucket, Key: key, UploadId: uploadId })),
      );
      throw new ChecksumMismatch(`${file.name}: the local file no longer matches the set's checksum; it was not copied`);
    }

    const ordered = [...parts.values()].sort((a, b) => a.number - b.number);
    const completed = await call(this.bucket, `completing the upload of ${this.where(key)}`, () =>
      this.bucket.s3.send(
        new CompleteMultipartUploadCommand({
          Bucket: this.bucket.bucket,
          Key: key,
          UploadId: uploadId,
          MultipartUpload: { Parts: ordered.map((part) => ({ PartNumber: part.number, ETag: part.etag, ChecksumSHA256: part.sha256 && base64Of(part.sha256) })) },
        }),
        { abortSignal: this.progress.signal },
      ),
    );
    const sizeMatches = (await this.sizeOf(key)) === file.bytes;
    const sha256s = ordered.map((part) => part.sha256);
    if (sizeMatches && isEvery(sha256s) && completed.ChecksumSHA256 === compositeOf('sha256', sha256s, 'base64')) return 'server-sha256';
    // Every part proved received by its ETag, and the object's ETag (S3's MD5 of the parts' MD5s) says
    // the server assembled exactly those parts: the object is the file.
    const md5s = ordered.map((part) => part.md5);
    if (sizeMatches && isEvery(md5s) && receivedAsSent(completed.ETag, compositeOf('md5', md5s, 'hex'))) return 'server-md5';
    await readBack(this.bucket, key, file, { signal: this.progress.signal });
    return 'read-back';
  }

  /**
   * Starts a multipart upload asking for SHA-256 part checksums. A server that takes them says so
   * (x-amz-checksum-algorithm) and checks each part's SHA-256; one that does not (rclone's) gets each
   * part's Content-MD5 instead, which it checks and answers with the part's MD5 as ETag. Either way
   * each part is hashed once for the server, beside the whole file's SHA-256 against the manifest.
   */
  private async startUpload(key: string): Promise<{ uploadId: string; check: PartCheck }> {
    const created = await call(this.bucket, `starting the upload of ${this.where(key)}`, () =>
      this.bucket.s3.send(new CreateMultipartUploadCommand({ Bucket: this.bucket.bucket, Key: key, ChecksumAlgorithm: 'SHA256' }), {
        abortSignal: this.progress.signal,
      }),
    );
    if (!created.UploadId) throw new Error(`${this.bucket.where} started the upload of ${this.where(key)} without an upload id`);
    return { uploadId: created.UploadId, check: created.ChecksumAlgorithm === 'SHA256' ? 'sha256' : 'md5' };
  }

  /** Sends one part with its digest; an `md5` is kept only when the server's ETag proves it received the part as sent. */
  private async sendPart(key: string, uploadId: string, number: number, content: Buffer, digest: { sha256?: string; md5?: string }): Promise<Part> {
    const { sha256, md5 } = digest;
    await this.limit.take(content.length, this.progress.signal);
    const response = await call(this.bucket, `uploading part ${number} of ${this.where(key)}`, () =>
      this.bucket.s3.send(
        new UploadPartCommand({
          Bucket: this.bucket.bucket,
          Key: key,
          UploadId: uploadId,
          PartNumber: number,
          Body: content,
          ContentLength: content.length,
          ContentMD5: md5 && base64Of(md5),
          ChecksumSHA256: sha256 && base64Of(sha256),
        }),
        { abortSignal: this.progress.signal },
      ),
    );
    if (!response.ETag) throw new Error(`${this.bucket.where} accepted part ${number} of ${this.where(key)} without an ETag`);
    this.bytesSent += content.length;
    this.advance(content.length);
    return { number, etag: response.ETag, sha256, md5: md5 && receivedAsSent(response.ETag, md5) ? md5 : undefined };
  }

  /** The checkpoint's parts that the server still holds, or undefined when the upload is gone (expired or aborted). */
  private async partsStillThere(key: string, uploadId: string, parts: Part[]): Promise<Part[] | undefined> {
    const listed = new Map<number, string>();
    let marker: string | undefined;
    try {
      for (;;) {
        const page = await this.bucket.s3.send(new ListPartsCommand({ Bucket: this.bucket.bucket, Key: key, UploadId: uploadId, PartNumberMarker: marker }));
        for (const part of page.Parts ?? []) if (part.PartNumber && part.ETag) listed.set(part.PartNumber, part.ETag);
        if (!page.IsTruncated) break;
        marker = page.NextPartNumberMarker;
      }
    } catch (error) {
      if (error instanceof S3ServiceException && (error.name === 'NoSuchUpload' || error.$metadata.httpStatusCode === 404)) return undefined;
      throw offsiteError(this.bucket, `resuming the upload of ${this.where(key)}`, error);
    }
    return parts.filter((part) => listed.get(part.number) === part.etag);
  }

  private async sizeOf(key: string): Promise<number | undefined> {
    const head = await call(this.bucket, `checking ${this.where(key)}`, () => this.bucket.s3.send(new HeadObjectCommand({ Bucket: this.bucket.bucket, Key: key })));
    return head.ContentLength;
  }
}

/** Reads `length` bytes at `position` into the start of `buffer`; returns that slice. */
async function readPart(handle: FileHandle, buffer: Buffer, position: number, length: number): Promise<Buffer> {
  let filled = 0;
  while (filled < length) {
    const { bytesRead } = await handle.read(buffer, filled, length - filled, position + filled);
    if (bytesRead === 0) throw new ChecksumMismatch(`the local file is shorter than recorded (at byte ${position + filled})`);
    filled += bytesRead;
  }
  return buffer.subarray(0, length);
}
