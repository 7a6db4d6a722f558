"use strict";
Object.defineProperty(exports, "__esModule", { value: true });
exports.TarFormatError = void 0;
exports.writeTar = writeTar;
exports.readTar = readTar;
/**
 * Minimal ustar writer and reader (POSIX.1-1988 headers only: no pax, no GNU long names).
 *
 * Qdrant's collection snapshots are plain uncompressed tars, and the backup tool may inspect them
 * (e.g. read `version.info`), so the stand-in writes real archives that `tar -tf` accepts. Both sides
 * work through a file handle block by block, so archive size is bounded by disk, not memory, except
 * for the entries the caller explicitly asks to read.
 */
const node_crypto_1 = require("node:crypto");
const promises_1 = require("node:fs/promises");
const BLOCK = 512;
/** Writes `entries` to `path` and returns the archive's size and lower-case hex SHA-256. */
async function writeTar(path, entries) {
    const hash = (0, node_crypto_1.createHash)('sha256');
    const file = await (0, promises_1.open)(path, 'w');
    let size = 0;
    const write = async (buf) => {
        hash.update(buf);
        size += buf.length;
        await file.write(buf);
    };
    try {
        for (const entry of entries) {
            const isDir = entry.name.endsWith('/');
            const data = isDir ? Buffer.alloc(0) : (entry.data ?? Buffer.alloc(0));
            await write(header(entry.name, isDir, data.length, entry.mtime ?? new Date()));
            if (data.length > 0) {
                await write(data);
                const pad = (BLOCK - (data.length % BLOCK)) % BLOCK;
                if (pad > 0)
                    await write(Buffer.alloc(pad));
            }
        }
        await write(Buffer.alloc(2 * BLOCK)); // end-of-archive marker: two zero blocks
        await file.sync();
    }
    finally {
        await file.close();
    }
    return { size, sha256: hash.digest('hex') };
}
function header(fullName, isDir, size, mtime) {
    const h = Buffer.alloc(BLOCK);
    const [prefix, name] = splitName(fullName);
    h.write(name, 0, 100, 'utf8');
    writeOctal(h, 100, 8, isDir ? 0o755 : 0o644);
    writeOctal(h, 108, 8, 0); // uid
    writeOctal(h, 116, 8, 0); // gid
    writeOctal(h, 124, 12, size);
    writeOctal(h, 136, 12, Math.floor(mtime.getTime() / 1000));
    h.write(isDir ? '5' : '0', 156, 1, 'ascii');
    h.write('ustar\0', 257, 6, 'ascii');
    h.write('00', 263, 2, 'ascii');
    h.write('root', 265, 32, 'ascii');
    h.write('root', 297, 32, 'ascii');
    h.write(prefix, 345, 155, 'utf8');
    // The checksum is computed with its own field filled with spaces, then stored as 6 octal digits, NUL, space.
    h.fill(0x20, 148, 156);
    h.write(`${checksumOf(h).toString(8).padStart(6, '0')}\0 `, 148, 8, 'ascii');
    return h;
}
/** ustar keeps names over 100 bytes by splitting them at a `/` into prefix (≤155) and name (≤100). */
function splitName(fullName) {
    if (Buffer.byteLength(fullName) <= 100)
        return ['', fullName];
    for (let i = fullName.lastIndexOf('/', fullName.length - 2); i > 0; i = fullName.lastIndexOf('/', i - 1)) {
        const prefix = fullName.slice(0, i);
        const name = fullName.slice(i + 1);
        if (Buffer.byteLength(prefix) <= 155 && Buffer.byteLength(name) <= 100)
            return [prefix, name];
    }
    throw new Error(`tar: name too long for ustar: ${fullName}`);
}
function writeOctal(buf, offset, length, value) {
    buf.write(`${value.toString(8).padStart(length - 1, '0')}\0`, offset, length, 'ascii');
}
function checksumOf(h) {
    let sum = 0;
    for (let i = 0; i < BLOCK; i++)
        sum += i >= 148 && i < 156 ? 0x20 : (h[i] ?? 0);
    return sum;
}
function readString(h, offset, length) {
    const raw = h.subarray(offset, offset + length);
    const end = raw.indexOf(0);
    return raw.subarray(0, end === -1 ? length : end).toString('utf8');
}
function readOctal(h, offset, length) {
    const text = readString(h, offset, length).trim();
    if (!/^[0-7]+$/.test(text))
        return NaN;
    return parseInt(text, 8);
}
class TarFormatError extends Error {
}
exports.TarFormatError = TarFormatError;
/**
 * Reads and validates a whole archive: every header's magic and checksum, that entries lie within
 * the file, and that the end-of-archive marker is present (a truncated download must not pass).
 * Only entries for which `wanted(name)` is true are loaded into memory.
 */
async function readTar(path, wanted) {
    const file = await (0, promises_1.open)(path, 'r');
    try {
        const { size: fileSize } = await file.stat();
        const names = [];
        const files = new Map();
        const h = Buffer.alloc(BLOCK);
        let pos = 0;
        for (;;) {
            if (pos + BLOCK > fileSize)
                throw new TarFormatError('archive is truncated (no end-of-archive marker)');
            await file.read(h, 0, BLOCK, pos);
            pos += BLOCK;
            if (h.every((b) => b === 0)) {
                const next = Buffer.alloc(BLOCK);
                const { bytesRead } = await file.read(next, 0, BLOCK, pos);
                if (bytesRead !== BLOCK || !next.every((b) => b === 0)) {
                    throw new TarFormatError(`unexpected zero block at offset ${pos - BLOCK}`);
                }
                return { names, files };
            }
            if (readString(h, 257, 5) !== 'ustar')
                throw new TarFormatError(`no ustar header at offset ${pos - BLOCK}`);
            if (readOctal(h, 148, 8) !== checksumOf(h)) {
                throw new TarFormatError(`header checksum mismatch at offset ${pos - BLOCK}`);
            }
            const prefix = readString(h, 345, 155);
            const name = prefix ? `${prefix}/${readString(h, 0, 100)}` : readString(h, 0, 100);
            const size = readOctal(h, 124, 12);
            if (!Number.isSafeInteger(size))
                throw new TarFormatError(`bad size field for ${name}`);
            if (pos + size > fileSize)
                throw new TarFormatError(`entry ${name} runs past the end of the archive`);
            names.push(name);
            const type = String.fromCharCode(h[156] ?? 0);
            if ((type === '0' || type === '\0') && wanted(name)) {
                const data = Buffer.alloc(size);
                await file.read(data, 0, size, pos);
                files.set(name, data);
            }
            pos += Math.ceil(size / BLOCK) * BLOCK;
        }
    }
    finally {
        await file.close();
    }
}
