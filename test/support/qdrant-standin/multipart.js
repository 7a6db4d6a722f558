"use strict";
Object.defineProperty(exports, "__esModule", { value: true });
exports.MultipartError = void 0;
exports.boundaryOf = boundaryOf;
exports.receiveMultipartFile = receiveMultipartFile;
/**
 * Streaming multipart/form-data receiver (RFC 7578) that spools one named file field to disk.
 *
 * Snapshot uploads can be gigabytes, and the backup tool's upload path must be tested against a server
 * that, like Qdrant (actix-multipart `TempFile`), never holds the body in memory. Only a window of
 * about one boundary length is kept between chunks.
 */
const node_crypto_1 = require("node:crypto");
const promises_1 = require("node:fs/promises");
class MultipartError extends Error {
}
exports.MultipartError = MultipartError;
const CRLF = Buffer.from('\r\n');
const HEADER_END = Buffer.from('\r\n\r\n');
const MAX_HEADER_BYTES = 16 * 1024;
function boundaryOf(contentType) {
    const match = /^multipart\/form-data\s*;(?:.*;)?\s*boundary=(?:"([^"]+)"|([^;\s]+))/i.exec(contentType ?? '');
    const boundary = match?.[1] ?? match?.[2];
    if (!boundary)
        throw new MultipartError('Content-Type must be multipart/form-data with a boundary');
    return boundary;
}
function dispositionParam(headers, param) {
    const disposition = /^content-disposition:(.*)$/im.exec(headers)?.[1] ?? '';
    const match = new RegExp(`(?:^|;)\\s*${param}\\s*=\\s*(?:"([^"]*)"|([^;\\s]*))`, 'i').exec(disposition);
    return match ? (match[1] ?? match[2]) : undefined;
}
/**
 * Consumes `body` completely and writes the contents of the part named `field` to `targetPath`.
 * Other parts are skipped. Throws MultipartError on malformed input or a missing field, after
 * removing any partial file.
 */
async function receiveMultipartFile(body, contentType, field, targetPath) {
    // Every boundary, including the first, is matched as CRLF--boundary; seeding the buffer with CRLF
    // lets a body that starts directly with --boundary match too.
    const delimiter = Buffer.from(`\r\n--${boundaryOf(contentType)}`);
    let buf = CRLF;
    let state = 'preamble';
    let sink;
    let received;
    const hash = (0, node_crypto_1.createHash)('sha256');
    let size = 0;
    const emit = async (data) => {
        if (!sink || data.length === 0)
            return;
        hash.update(data);
        size += data.length;
        await sink.write(data);
    };
    try {
        for await (const chunk of body) {
            if (state === 'done')
                continue; // drain the epilogue without keeping it
            buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
            for (let progressed = true; progressed && state !== 'done';) {
                progressed = false;
                if (state === 'preamble' || state === 'body') {
                    const at = buf.indexOf(delimiter);
                    if (at === -1) {
                        // Keep a tail that could be the start of a delimiter split across chunks.
                        const safe = buf.length - (delimiter.length - 1);
                        if (safe > 0) {
                            if (state === 'body')
                                await emit(buf.subarray(0, safe));
                            buf = buf.subarray(safe);
                        }
                        continue;
                    }
                    if (state === 'body') {
                        await emit(buf.subarray(0, at));
                        if (sink) {
                            await sink.close();
                            sink = undefined;
                            received = { ...received, size, sha256: hash.digest('hex') };
                        }
                    }
                    buf = buf.subarray(at + delimiter.length);
                    state = 'afterDelimiter';
                    progressed = true;
                }
                else if (state === 'afterDelimiter') {
                    if (buf.length < 2)
                        continue;
                    if (buf[0] === 0x2d && buf[1] === 0x2d) {
                        state = 'done'; // closing delimiter `--boundary--`; anything after it is epilogue
                        continue;
                    }
                    const eol = buf.indexOf(CRLF);
                    if (eol === -1) {
                        if (buf.length > 1024)
                            throw new MultipartError('malformed boundary line');
                        continue;
                    }
                    buf = buf.subarray(eol + 2);
                    state = 'headers';
                    progressed = true;
                }
                else if (state === 'headers') {
                    const end = buf.indexOf(HEADER_END);
                    if (end === -1) {
                        if (buf.length > MAX_HEADER_BYTES)
                            throw new MultipartError('part headers too large');
                        continue;
                    }
                    const headers = buf.subarray(0, end).toString('utf8');
                    buf = buf.subarray(end + HEADER_END.length);
                    state = 'body';
                    progressed = true;
                    if (dispositionParam(headers, 'name') === field) {
                        if (received)
                            throw new MultipartError(`field \`${field}\` appears more than once`);
                        const filename = dispositionParam(headers, 'filename');
                        received = { path: targetPath, size: 0, sha256: '', ...(filename ? { filename } : {}) };
                        sink = await (0, promises_1.open)(targetPath, 'w');
                    }
                }
            }
        }
        if (state !== 'done')
            throw new MultipartError('multipart body ended before the closing boundary');
        if (!received)
            throw new MultipartError(`field \`${field}\` is missing`);
        return received;
    }
    catch (err) {
        await sink?.close().catch(() => undefined);
        await (0, promises_1.rm)(targetPath, { force: true });
        throw err;
    }
}
