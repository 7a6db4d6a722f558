/**
 * The S3 client of the offsite repository. Credentials come only from the AWS SDK's default chain
 * (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY/AWS_SESSION_TOKEN, profiles, instance roles): they are never
 * in `Config`, and every error leaves through `offsiteError`, one line without them.
 */
import { S3Client, S3ServiceException } from '@aws-sdk/client-s3';
import { ConfigError, type Config, type OffsiteConfig } from '../../core/config';
import { registerSecrets } from '../../core/redaction';
import { setKeyPrefix } from '../../core/offsite';

export class OffsiteUnreachable extends Error {
  override name = 'OffsiteUnreachable';
}

/** An object that is not in the bucket; callers that expect absence (a copy not finished) test for it with `isMissing`. */
export class ObjectMissing extends Error {
  override name = 'SetNotFound';
}

export interface OffsiteBucket {
  s3: S3Client;
  bucket: string;
  prefix: string;
  /** `s3://bucket/prefix` (no credentials in it), for messages. */
  url: string;
  where: string;
  config: OffsiteConfig;
}

export function offsiteConfig(config: Pick<Config, 'offsite'>): OffsiteConfig {
  if (!config.offsite) throw new ConfigError('BACKUP_OFFSITE_URL is not set; offsite copies need s3://bucket/prefix');
  return config.offsite;
}

/** A client for the configured bucket; the SDK retries throttling and network errors itself. */
export function openBucket(config: Pick<Config, 'offsite'>): OffsiteBucket {
  const offsite = offsiteConfig(config);
  // Whatever the chain finds in the environment is masked in every log line and message.
  registerSecrets([], [process.env.AWS_SECRET_ACCESS_KEY, process.env.AWS_SESSION_TOKEN, process.env.AWS_ACCESS_KEY_ID]);
  const s3 = new S3Client({
    endpoint: offsite.endpoint,
    region: offsite.region,
    forcePathStyle: offsite.forcePathStyle,
    maxAttempts: 4,
    // Checksums are asked for where this module wants them (SHA-256), not added to every request.
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
  s3.middlewareStack.add(
    (next) => async (args) => {
      // An upload that carries the SHA-256 of its body (PutObject, UploadPart) gives it to the signer
      // too, so the SDK does not hash every byte a second time to sign the request over plain HTTP;
      // one checked by its Content-MD5 alone is signed without its payload (S3's UNSIGNED-PAYLOAD).
      const input: object = args.input;
      const request: unknown = args.request;
      if ('Body' in input && hasHeaders(request)) {
        if ('ChecksumSHA256' in input && typeof input.ChecksumSHA256 === 'string') {
          request.headers['x-amz-content-sha256'] = Buffer.from(input.ChecksumSHA256, 'base64').toString('hex');
        } else if ('ContentMD5' in input && typeof input.ContentMD5 === 'string') {
          request.headers['x-amz-content-sha256'] = 'UNSIGNED-PAYLOAD';
        }
      }
      return next(args);
    },
    { step: 'build', name: 'payloadHashFromChecksum' },
  );
  const url = `s3://${offsite.bucket}${offsite.prefix ? `/${offsite.prefix}` : ''}`;
  return { s3, bucket: offsite.bucket, prefix: offsite.prefix, url, where: offsite.endpoint ?? 'AWS S3', config: offsite };
}

function hasHeaders(request: unknown): request is { headers: Record<string, string> } {
  return typeof request === 'object' && request !== null && 'headers' in request && typeof request.headers === 'object' && request.headers !== null;
}

export function setUrl(bucket: OffsiteBucket, setName: string): string {
  return `s3://${bucket.bucket}/${setKeyPrefix(bucket.prefix, setName)}`;
}

const AUTH_ERRORS = new Set(['InvalidAccessKeyId', 'SignatureDoesNotMatch', 'AccessDenied', 'InvalidToken', 'ExpiredToken', 'CredentialsProviderError']);
const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EPIPE', 'EAI_AGAIN']);

/**
 * One line saying what failed where. Refused credentials and a missing bucket are configuration errors
 * (retrying cannot help); an unreachable server is retryable. Errors that are ours pass unchanged.
 */
export function offsiteError(bucket: OffsiteBucket, what: string, error: unknown): Error {
  if (!(error instanceof Error)) return new OffsiteUnreachable(`${what} at ${bucket.where}: ${String(error)}`);
  if (!(error instanceof S3ServiceException) && !isNetworkError(error) && error.name !== 'CredentialsProviderError' && error.name !== 'TimeoutError') return error;
  const name = error.name;
  if (AUTH_ERRORS.has(name)) {
    return new ConfigError(`${what}: ${bucket.where} refused the credentials (${name}); check AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY or the AWS profile`);
  }
  if (isMissing(error)) return new ObjectMissing(`${what}: no such object`);
  if (name === 'NoSuchBucket') return new ConfigError(`${what}: bucket ${bucket.bucket} does not exist at ${bucket.where}`);
  if (isNetworkError(error) || name === 'TimeoutError') {
    return new OffsiteUnreachable(`${what}: offsite storage ${bucket.where} is unreachable (${networkCode(error) ?? name})`);
  }
  const status = error instanceof S3ServiceException ? error.$metadata.httpStatusCode : undefined;
  return new OffsiteUnreachable(`${what}: ${bucket.where} answered ${name}${status ? ` (HTTP ${status})` : ''}`);
}

function networkCode(error: Error): string | undefined {
  const code = (error as NodeJS.ErrnoException).code;
  if (code) return code;
  const cause = (error as { cause?: unknown }).cause;
  return cause instanceof Error ? networkCode(cause) : undefined;
}

function isNetworkError(error: Error): boolean {
  const code = networkCode(error);
  return code !== undefined && NETWORK_CODES.has(code);
}

/** Runs one S3 call; its failure becomes `offsiteError`. */
export async function call<T>(bucket: OffsiteBucket, what: string, request: () => Promise<T>): Promise<T> {
  try {
    return await request();
  } catch (error) {
    throw offsiteError(bucket, what, error);
  }
}

/** An object that is not there: HeadObject says NotFound, GetObject NoSuchKey. */
export function isMissing(error: unknown): boolean {
  if (error instanceof ObjectMissing) return true;
  return error instanceof S3ServiceException && error.name !== 'NoSuchBucket' && (error.name === 'NotFound' || error.name === 'NoSuchKey' || error.name === 'NoSuchUpload' || error.$metadata.httpStatusCode === 404);
}
