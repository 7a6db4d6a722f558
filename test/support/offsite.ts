/**
 * An S3 target for the offsite tests: a private `rclone serve s3` (a real S3 server over a temp folder,
 * devstack/s3-server.ts), or, when OFFSITE_TEST_URL is set, that bucket and prefix with the AWS
 * credentials of the environment (OFFSITE_TEST_ENDPOINT, OFFSITE_TEST_REGION and
 * OFFSITE_TEST_FORCE_PATH_STYLE for MinIO and friends). Each run works under a prefix of its own.
 * Sealed sets to copy come from devstack/synthetic-set.ts.
 */
import { randomBytes } from 'node:crypto';
import { DeleteObjectsCommand, ListMultipartUploadsCommand, ListObjectsV2Command, S3Client, AbortMultipartUploadCommand } from '@aws-sdk/client-s3';
import { loadConfig, type Config } from '../../core/config';
import { startS3Server, type S3Server } from '../../devstack/s3-server';

export { writeSealedSet } from '../../devstack/synthetic-set';

export interface OffsiteTarget {
  /** `s3://bucket/prefix` of this run. */
  url: string;
  bucket: string;
  prefix: string;
  /** The BACKUP_OFFSITE_* variables (no credentials: those are in process.env, for the SDK's chain). */
  env: Record<string, string>;
  /** Credentials the tests must never find in a message or a log. */
  secrets: string[];
  /** The local rclone server; undefined against an external endpoint (tests that stop the server skip then). */
  server?: S3Server;
  s3: S3Client;
  /** Every key under the run's prefix, with sizes. */
  keys(): Promise<Map<string, number>>;
  /** Multipart uploads in progress under the run's prefix. */
  uploads(): Promise<string[]>;
  remove(): Promise<void>;
}

export async function startOffsiteTarget(): Promise<OffsiteTarget> {
  const runPrefix = `offsite-test-${randomBytes(4).toString('hex')}`;
  const external = process.env.OFFSITE_TEST_URL;
  let server: S3Server | undefined;
  let env: Record<string, string>;
  let bucket: string;
  let prefix: string;
  if (external) {
    const match = /^s3:\/\/([^/]+)\/?(.*)$/.exec(external);
    if (!match) throw new Error('OFFSITE_TEST_URL must be s3://bucket[/prefix]');
    bucket = match[1]!;
    prefix = [match[2]!.replace(/\/+$/, ''), runPrefix].filter(Boolean).join('/');
    env = { BACKUP_OFFSITE_URL: `s3://${bucket}/${prefix}` };
    if (process.env.OFFSITE_TEST_ENDPOINT) env.BACKUP_OFFSITE_ENDPOINT = process.env.OFFSITE_TEST_ENDPOINT;
    if (process.env.OFFSITE_TEST_REGION) env.BACKUP_OFFSITE_REGION = process.env.OFFSITE_TEST_REGION;
    if (process.env.OFFSITE_TEST_FORCE_PATH_STYLE) env.BACKUP_OFFSITE_FORCE_PATH_STYLE = process.env.OFFSITE_TEST_FORCE_PATH_STYLE;
  } else {
    bucket = 'scholaria-offsite';
    prefix = `backups/${runPrefix}`;
    server = await startS3Server({ buckets: [bucket] });
    process.env.AWS_ACCESS_KEY_ID = server.accessKeyId;
    process.env.AWS_SECRET_ACCESS_KEY = server.secretAccessKey;
    delete process.env.AWS_SESSION_TOKEN;
    delete process.env.AWS_PROFILE;
    env = { BACKUP_OFFSITE_URL: `s3://${bucket}/${prefix}`, BACKUP_OFFSITE_ENDPOINT: server.endpoint };
  }
  const config = loadConfig({ BACKUP_DIR: '/nonexistent', ...env }).offsite!;
  const s3 = new S3Client({ endpoint: config.endpoint, region: config.region, forcePathStyle: config.forcePathStyle });
  const secrets = [process.env.AWS_ACCESS_KEY_ID, process.env.AWS_SECRET_ACCESS_KEY, process.env.AWS_SESSION_TOKEN].filter((value): value is string => Boolean(value));

  const keys = async () => {
    const found = new Map<string, number>();
    let token: string | undefined;
    do {
      const page = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: `${prefix}/`, ContinuationToken: token }));
      for (const object of page.Contents ?? []) found.set(object.Key!.slice(prefix.length + 1), object.Size ?? 0);
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    return found;
  };
  const listUploads = async () => {
    try {
      return (await s3.send(new ListMultipartUploadsCommand({ Bucket: bucket, Prefix: `${prefix}/` }))).Uploads ?? [];
    } catch (error) {
      // rclone answers NoSuchUpload when it never held an upload of the bucket.
      if ((error as Error).name === 'NoSuchUpload') return [];
      throw error;
    }
  };
  return {
    url: `s3://${bucket}/${prefix}`,
    bucket,
    prefix,
    env,
    secrets,
    server,
    s3,
    keys,
    uploads: async () => (await listUploads()).map((upload) => upload.Key!),
    remove: async () => {
      if (server) {
        await server.remove();
      } else {
        for (const upload of await listUploads()) await s3.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: upload.Key, UploadId: upload.UploadId }));
        const all = [...(await keys()).keys()].map((key) => ({ Key: `${prefix}/${key}` }));
        for (let start = 0; start < all.length; start += 1000) {
          await s3.send(new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: all.slice(start, start + 1000), Quiet: true } }));
        }
      }
      s3.destroy();
    },
  };
}

export function offsiteConfig(target: OffsiteTarget, backupDir: string, extra: Record<string, string> = {}): Config {
  return loadConfig({ BACKUP_DIR: backupDir, ...target.env, ...extra });
}
