/**
 * Checks an RDB file the way Redis's loader does before trusting it: magic, version, EOF opcode and
 * the trailing CRC-64, in one streaming pass with constant memory. It does not walk the key records;
 * `redis-check-rdb` or loading into a private server does that.
 */
import { createReadStream } from 'node:fs';
import { Transform, Writable, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';

/**
 * CRC-64/Jones as `src/crc64.c` computes it: reflected, initial value 0, no final XOR.
 * The 64-bit state lives in two uint32 halves because BigInt arithmetic per byte runs at a few MB/s.
 */
const POLY_HIGH = 0x95ac9329;
const POLY_LOW = 0xac4bc9b5;
/** Slicing-by-8: eight tables let the loop fold eight input bytes per step instead of one. */
const SLICES = 8;

function buildCrc64Tables(): { low: Uint32Array; high: Uint32Array } {
  const low = new Uint32Array(256 * SLICES);
  const high = new Uint32Array(256 * SLICES);
  for (let byte = 0; byte < 256; byte++) {
    let crcLow = byte;
    let crcHigh = 0;
    for (let bit = 0; bit < 8; bit++) {
      const carry = crcLow & 1;
      crcLow = (crcLow >>> 1) | ((crcHigh & 1) << 31);
      crcHigh >>>= 1;
      if (carry) {
        crcLow ^= POLY_LOW;
        crcHigh ^= POLY_HIGH;
      }
    }
    low[byte] = crcLow;
    high[byte] = crcHigh;
  }
  // Table k holds the CRC of a byte followed by k zero bytes.
  for (let slice = 1; slice < SLICES; slice++) {
    for (let byte = 0; byte < 256; byte++) {
      const previousLow = low[(slice - 1) * 256 + byte]!;
      const previousHigh = high[(slice - 1) * 256 + byte]!;
      const index = previousLow & 0xff;
      low[slice * 256 + byte] = ((previousLow >>> 8) | (previousHigh << 24)) ^ low[index]!;
      high[slice * 256 + byte] = (previousHigh >>> 8) ^ high[index]!;
    }
  }
  return { low, high };
}

const CRC64_TABLES = buildCrc64Tables();

/** Incremental CRC-64/Jones (Redis flavour); feed chunks with `update`, read with `value`. */
export class Crc64 {
  private low = 0;
  private high = 0;

  update(bytes: Uint8Array): this {
    const { low: tableLow, high: tableHigh } = CRC64_TABLES;
    let crcLow = this.low;
    let crcHigh = this.high;
    const length = bytes.length;
    const wholeBlocksEnd = length - (length % SLICES);
    let offset = 0;
    // Non-null assertions below: typed-array indexes are masked to 0..2047 or bounded by `length`.
    for (; offset < wholeBlocksEnd; offset += SLICES) {
      const first =
        crcLow ^
        (bytes[offset]! | (bytes[offset + 1]! << 8) | (bytes[offset + 2]! << 16) | (bytes[offset + 3]! << 24));
      const second =
        crcHigh ^
        (bytes[offset + 4]! | (bytes[offset + 5]! << 8) | (bytes[offset + 6]! << 16) | (bytes[offset + 7]! << 24));
      const i7 = 1792 + (first & 0xff);
      const i6 = 1536 + ((first >>> 8) & 0xff);
      const i5 = 1280 + ((first >>> 16) & 0xff);
      const i4 = 1024 + (first >>> 24);
      const i3 = 768 + (second & 0xff);
      const i2 = 512 + ((second >>> 8) & 0xff);
      const i1 = 256 + ((second >>> 16) & 0xff);
      const i0 = second >>> 24;
      crcLow =
        tableLow[i7]! ^ tableLow[i6]! ^ tableLow[i5]! ^ tableLow[i4]! ^
        tableLow[i3]! ^ tableLow[i2]! ^ tableLow[i1]! ^ tableLow[i0]!;
      crcHigh =
        tableHigh[i7]! ^ tableHigh[i6]! ^ tableHigh[i5]! ^ tableHigh[i4]! ^
        tableHigh[i3]! ^ tableHigh[i2]! ^ tableHigh[i1]! ^ tableHigh[i0]!;
    }
    for (; offset < length; offset++) {
      const index = (crcLow ^ bytes[offset]!) & 0xff;
      crcLow = ((crcLow >>> 8) | (crcHigh << 24)) ^ tableLow[index]!;
      crcHigh = (crcHigh >>> 8) ^ tableHigh[index]!;
    }
    this.low = crcLow >>> 0;
    this.high = crcHigh >>> 0;
    return this;
  }

  value(): bigint {
    return (BigInt(this.high) << 32n) | BigInt(this.low);
  }
}

export function crc64(bytes: Uint8Array): bigint {
  return new Crc64().update(bytes).value();
}

export function crc64Hex(value: bigint): string {
  return value.toString(16).padStart(16, '0');
}

export class RdbError extends Error {
  override name = 'RdbError';
}

export interface RdbFacts {
  rdbVersion: number;
  /** From the `redis-ver` AUX field; absent when the producer did not write one. */
  redisVersion?: string;
  bytes: number;
  /** 'disabled' when the file was written with `rdbchecksum no` (stored CRC 0): nothing to compare. */
  checksum: 'ok' | 'disabled';
}

const MAGIC = 'REDIS';
const HEADER_BYTES = 9;
const EOF_OPCODE = 0xff;
const AUX_OPCODE = 0xfa;
const CRC_BYTES = 8;
/** The trailer the loader checks: the EOF opcode followed by the CRC. */
const TRAILER_BYTES = 1 + CRC_BYTES;
/** RDB 5 (Redis 2.6) introduced the trailing CRC; older files end at the EOF opcode. */
const FIRST_VERSION_WITH_CRC = 5;
/** AUX fields are a few short strings; a header longer than this is not worth buffering. */
const HEADER_BUFFER_LIMIT = 16 * 1024;

type ParsedString = { value: string | undefined; end: number };

/**
 * Reads one RDB string at `offset`. Returns undefined when `buffer` ends before the string does.
 * LZF-compressed strings are skipped (value undefined): AUX values worth reading are too short for
 * Redis to compress.
 */
function readRdbString(buffer: Buffer, offset: number): ParsedString | undefined {
  if (offset >= buffer.length) return undefined;
  const first = buffer[offset]!;
  const kind = first >> 6;
  if (kind === 0) return readRawBytes(buffer, offset + 1, first & 0x3f);
  if (kind === 1) {
    if (offset + 2 > buffer.length) return undefined;
    return readRawBytes(buffer, offset + 2, ((first & 0x3f) << 8) | buffer[offset + 1]!);
  }
  if (kind === 2) {
    const length = readLongLength(buffer, offset);
    if (length === undefined) return undefined;
    return readRawBytes(buffer, length.end, length.value);
  }
  switch (first & 0x3f) {
    case 0:
      return offset + 2 <= buffer.length ? { value: String(buffer.readInt8(offset + 1)), end: offset + 2 } : undefined;
    case 1:
      return offset + 3 <= buffer.length ? { value: String(buffer.readInt16LE(offset + 1)), end: offset + 3 } : undefined;
    case 2:
      return offset + 5 <= buffer.length ? { value: String(buffer.readInt32LE(offset + 1)), end: offset + 5 } : undefined;
    case 3: {
      const compressedLength = readLength(buffer, offset + 1);
      if (compressedLength === undefined) return undefined;
      const uncompressedLength = readLength(buffer, compressedLength.end);
      if (uncompressedLength === undefined) return undefined;
      const end = uncompressedLength.end + compressedLength.value;
      return end <= buffer.length ? { value: undefined, end } : undefined;
    }
    default:
      throw new RdbError(`unknown RDB string encoding 0x${first.toString(16)} at byte ${offset}`);
  }
}

function readLength(buffer: Buffer, offset: number): { value: number; end: number } | undefined {
  if (offset >= buffer.length) return undefined;
  const first = buffer[offset]!;
  const kind = first >> 6;
  if (kind === 0) return { value: first & 0x3f, end: offset + 1 };
  if (kind === 1) {
    return offset + 2 <= buffer.length ? { value: ((first & 0x3f) << 8) | buffer[offset + 1]!, end: offset + 2 } : undefined;
  }
  if (kind === 2) return readLongLength(buffer, offset);
  throw new RdbError(`expected an RDB length at byte ${offset}, found encoding byte 0x${first.toString(16)}`);
}

function readLongLength(buffer: Buffer, offset: number): { value: number; end: number } | undefined {
  const marker = buffer[offset];
  if (marker === 0x80) {
    return offset + 5 <= buffer.length ? { value: buffer.readUInt32BE(offset + 1), end: offset + 5 } : undefined;
  }
  if (marker === 0x81) {
    return offset + 9 <= buffer.length
      ? { value: Number(buffer.readBigUInt64BE(offset + 1)), end: offset + 9 }
      : undefined;
  }
  throw new RdbError(`invalid RDB length encoding 0x${marker?.toString(16)} at byte ${offset}`);
}

function readRawBytes(buffer: Buffer, start: number, length: number): ParsedString | undefined {
  const end = start + length;
  return end <= buffer.length ? { value: buffer.toString('latin1', start, end), end } : undefined;
}

/**
 * Pass-through stream that checks the RDB flowing through it, so a backup can be verified while it
 * is written. It never fails the stream itself: call `result()` once the stream has finished.
 */
export class RdbInspector extends Transform {
  private readonly crc = new Crc64();
  private byteCount = 0;
  /** The newest 8 bytes: they are the stored CRC if the stream ends now, so not yet in the CRC. */
  private pendingTail = Buffer.alloc(0);
  /** The byte just before `pendingTail`, which must be the EOF opcode. */
  private lastCoveredByte: number | undefined;
  private header = Buffer.alloc(0);
  private headerDone = false;
  private headerProblem: RdbError | undefined;
  private redisVersion: string | undefined;
  private finished = false;

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.byteCount += chunk.length;
    if (!this.headerDone) this.collectHeader(chunk);
    this.feedChecksum(chunk);
    callback(null, chunk);
  }

  override _flush(callback: TransformCallback): void {
    this.finished = true;
    if (!this.headerDone) this.parseHeader(true);
    callback();
  }

  result(): RdbFacts {
    if (!this.finished) throw new Error('RdbInspector.result() called before the stream finished');
    if (this.headerProblem) throw this.headerProblem;
    const rdbVersion = this.parseMagicAndVersion();
    if (rdbVersion < FIRST_VERSION_WITH_CRC) {
      throw new RdbError(`RDB version ${rdbVersion} predates checksums (Redis < 2.6) and is not supported`);
    }
    if (this.byteCount < HEADER_BYTES + TRAILER_BYTES) {
      throw new RdbError(`file too short: ${this.byteCount} bytes, an RDB has at least ${HEADER_BYTES + TRAILER_BYTES}`);
    }
    if (this.lastCoveredByte !== EOF_OPCODE) {
      throw new RdbError(
        `truncated: no EOF marker (byte ${this.byteCount - TRAILER_BYTES} is 0x${(this.lastCoveredByte ?? 0).toString(16)}, expected 0xff)`,
      );
    }
    const stored = this.pendingTail.readBigUInt64LE(0);
    const facts = { rdbVersion, bytes: this.byteCount, ...(this.redisVersion === undefined ? {} : { redisVersion: this.redisVersion }) };
    if (stored === 0n) return { ...facts, checksum: 'disabled' };
    const computed = this.crc.value();
    if (computed !== stored) {
      throw new RdbError(`checksum mismatch: stored crc64 ${crc64Hex(stored)}, computed ${crc64Hex(computed)}`);
    }
    return { ...facts, checksum: 'ok' };
  }

  private feedChecksum(chunk: Buffer): void {
    if (chunk.length >= CRC_BYTES) {
      this.crc.update(this.pendingTail);
      const coveredEnd = chunk.length - CRC_BYTES;
      this.crc.update(chunk.subarray(0, coveredEnd));
      this.lastCoveredByte = coveredEnd > 0 ? chunk[coveredEnd - 1] : this.pendingTail[this.pendingTail.length - 1] ?? this.lastCoveredByte;
      // Copied so the tail does not pin the caller's (possibly large, pooled) chunk.
      this.pendingTail = Buffer.from(chunk.subarray(coveredEnd));
      return;
    }
    const combined = Buffer.concat([this.pendingTail, chunk]);
    const coveredEnd = Math.max(0, combined.length - CRC_BYTES);
    if (coveredEnd > 0) {
      this.crc.update(combined.subarray(0, coveredEnd));
      this.lastCoveredByte = combined[coveredEnd - 1];
    }
    this.pendingTail = combined.subarray(coveredEnd);
  }

  private collectHeader(chunk: Buffer): void {
    const room = HEADER_BUFFER_LIMIT - this.header.length;
    this.header = Buffer.concat([this.header, chunk.subarray(0, room)]);
    this.parseHeader(this.header.length >= HEADER_BUFFER_LIMIT);
  }

  /** Parses what has arrived; `final` means no more header bytes will come, so stop trying. */
  private parseHeader(final: boolean): void {
    try {
      if (this.header.length < HEADER_BYTES) {
        if (final) this.headerDone = true;
        return;
      }
      this.parseMagicAndVersion();
      let offset = HEADER_BYTES;
      while (offset < this.header.length && this.header[offset] === AUX_OPCODE) {
        const key = readRdbString(this.header, offset + 1);
        const value = key && readRdbString(this.header, key.end);
        if (!key || !value) break;
        if (key.value === 'redis-ver' && value.value !== undefined) this.redisVersion = value.value;
        offset = value.end;
      }
      // Done once a non-AUX opcode is visible; otherwise wait for more bytes unless none will come.
      this.headerDone = final || offset < this.header.length;
    } catch (error) {
      this.headerProblem = error instanceof RdbError ? error : new RdbError(String(error));
      this.headerDone = true;
    }
    if (this.headerDone) this.header = Buffer.alloc(0);
  }

  /** Throws on a wrong magic or version; only called once at least the 9 header bytes arrived... or at result(). */
  private parseMagicAndVersionFrom(header: Buffer): number {
    if (header.length < MAGIC.length || header.toString('latin1', 0, MAGIC.length) !== MAGIC) {
      throw new RdbError(`not an RDB file: starts with ${JSON.stringify(header.toString('latin1', 0, MAGIC.length))}, expected "REDIS"`);
    }
    const versionText = header.toString('latin1', MAGIC.length, HEADER_BYTES);
    if (!/^[0-9]{4}$/.test(versionText)) {
      throw new RdbError(`bad RDB header: version ${JSON.stringify(versionText)} is not 4 ASCII digits`);
    }
    return Number(versionText);
  }

  private parseMagicAndVersion(): number {
    return this.parseMagicAndVersionFrom(this.header);
  }
}
