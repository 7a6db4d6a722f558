/**
 * Streaming multipart/form-data receiver (RFC 7578) that spools one named file field to disk.
 *
 * Snapshot uploads can be gigabytes, and the backup tool's upload path must be tested against a server
 * that, like Qdrant (actix-multipart `TempFile`), never holds the body in memory. Only a window of
 * about one boundary length is kept between chunks.
 */
import { createHash } from 'node:crypto';
import { open, rm, type FileHandle } from 'node:fs/promises';

export class MultipartError extends Error {}

export interface ReceivedFile {
  path: string;
  /** The part's `filename` parameter, if the client sent one. */
  filename?: string;
  size: number;
  sha256: string;
}

const CRLF = Buffer.from('\r\n');
const HEADER_END = Buffer.from('\r\n\r\n');
const MAX_HEADER_BYTES = 16 * 1024;

export function boundaryOf(contentType: string | undefined): string {
  const match = /^multipart\/form-data\s*;(?:.*;)?\s*boundary=(?:"([^"]+)"|([^;\s]+))/i.exec(contentType ?? '');
  const boundary = match?.[1] ?? match?.[2];
  if (!boundary) throw new MultipartError('Content-Type must be multipart/form-data with a boundary');
  return boundary;
}

function dispositionParam(headers: string, param: string): string | undefined {
  const disposition = /^content-disposition:(.*)$/im.exec(headers)?.[1] ?? '';
  const match = new RegExp(`(?:^|;)\\s*${param}\\s*=\\s*(?:"([^"]*)"|([^;\\s]*))`, 'i').exec(disposition);
  return match ? (match[1] ?? match[2]) : undefined;
}

/**
 * Consumes `body` completely and writes the contents of the part named `field` to `targetPath`.
 * Other parts are skipped. Throws MultipartError on malformed input or a missing field, after
 * removing any partial file.
 */
export async function receiveMultipartFile(
  body: AsyncIterable<Buffer>,
  contentType: string | undefined,
  field: string,
  targetPath: string,
): Promise<ReceivedFile> {
  // Every boundary, including the first, is matched as CRLF--boundary; seeding the buffer with CRLF
  // lets a body that starts directly with --boundary match too.
  const delimiter = Buffer.from(`\r\n--${boundaryOf(contentType)}`);
  let buf: Buffer = CRLF;
  let state: 'preamble' | 'afterDelimiter' | 'headers' | 'body' | 'done' = 'preamble';
  let sink: FileHandle | undefined;
  let received: ReceivedFile | undefined;
  const hash = createHash('sha256');
  let size = 0;

  const emit = async (data: Buffer): Promise<void> => {
    if (!sink || data.length === 0) return;
    hash.update(data);
    size += data.length;
    await sink.write(data);
  };

  try {
    for await (const chunk of body) {
      if (state === 'done') continue; // drain the epilogue without keeping it
      buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
      for (let progressed = true; progressed && state !== 'done'; ) {
        progressed = false;
        if (state === 'preamble' || state === 'body') {
          const at = buf.indexOf(delimiter);
          if (at === -1) {
            // Keep a tail that could be the start of a delimiter split across chunks.
            const safe = buf.length - (delimiter.length - 1);
            if (safe > 0) {
              if (state === 'body') await emit(buf.subarray(0, safe));
              buf = buf.subarray(safe);
            }
            continue;
          }
          if (state === 'body') {
            await emit(buf.subarray(0, at));
            if (sink) {
              await sink.close();
              sink = undefined;
              received = { ...received!, size, sha256: hash.digest('hex') };
            }
          }
          buf = buf.subarray(at + delimiter.length);
          state = 'afterDelimiter';
          progressed = true;
        } else if (state === 'afterDelimiter') {
          if (buf.length < 2) continue;
          if (buf[0] === 0x2d && buf[1] === 0x2d) {
            state = 'done'; // closing delimiter `--boundary--`; anything after it is epilogue
            continue;
          }
          const eol = buf.indexOf(CRLF);
          if (eol === -1) {
            if (buf.length > 1024) throw new MultipartError('malformed boundary line');
            continue;
          }
          buf = buf.subarray(eol + 2);
          state = 'headers';
          progressed = true;
        } else if (state === 'headers') {
          const end = buf.indexOf(HEADER_END);
          if (end === -1) {
            if (buf.length > MAX_HEADER_BYTES) throw new MultipartError('part headers too large');
            continue;
          }
          const headers = buf.subarray(0, end).toString('utf8');
          buf = buf.subarray(end + HEADER_END.length);
          state = 'body';
          progressed = true;
          if (dispositionParam(headers, 'name') === field) {
            if (received) throw new MultipartError(`field \`${field}\` appears more than once`);
            const filename = dispositionParam(headers, 'filename');
            received = { path: targetPath, size: 0, sha256: '', ...(filename ? { filename } : {}) };
            sink = await open(targetPath, 'w');
          }
        }
      }
    }
    if (state !== 'done') throw new MultipartError('multipart body ended before the closing boundary');
    if (!received) throw new MultipartError(`field \`${field}\` is missing`);
    return received;
  } catch (err) {
    await sink?.close().catch(() => undefined);
    await rm(targetPath, { force: true });
    throw err;
  }
}
