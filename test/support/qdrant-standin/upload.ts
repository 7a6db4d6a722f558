/**
 * The multipart/form-data body of a snapshot upload, parsed by busboy and spooled to disk with its
 * sha256: like Qdrant (actix-multipart `TempFile`), the stand-in never holds an upload in memory.
 */
import busboy from 'busboy';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import type * as http from 'node:http';
import { pipeline } from 'node:stream/promises';
import { ApiError } from './errors';

export interface ReceivedFile {
  path: string;
  /** The part's `filename` parameter, if the client sent one. */
  filename: string | undefined;
  size: number;
  sha256: string;
}

/** Consumes the request and writes the part named `field` to `targetPath`; other parts are skipped. */
export async function receiveUpload(req: http.IncomingMessage, field: string, targetPath: string): Promise<ReceivedFile> {
  const fail = (why: string): ApiError => new ApiError(400, `Multipart error: ${why}`);
  let parser: busboy.Busboy;
  try {
    parser = busboy({ headers: req.headers });
  } catch (error) {
    throw fail((error as Error).message);
  }
  let received: Promise<ReceivedFile> | undefined;
  parser.on('file', (name, stream, info) => {
    if (name !== field || received) return void stream.resume();
    const hash = createHash('sha256');
    let size = 0;
    stream.on('data', (chunk: Buffer) => {
      size += chunk.length;
      hash.update(chunk);
    });
    received = pipeline(stream, fs.createWriteStream(targetPath)).then(() => ({ path: targetPath, filename: info.filename, size, sha256: hash.digest('hex') }));
    received.catch(() => undefined);
  });
  try {
    await pipeline(req, parser);
  } catch (error) {
    fs.rmSync(targetPath, { force: true });
    throw fail((error as Error).message);
  }
  if (!received) throw fail(`no part named "${field}"`);
  try {
    return await received;
  } catch (error) {
    fs.rmSync(targetPath, { force: true });
    throw fail((error as Error).message);
  }
}
