/**
 * Checks an RDB file the way Redis's loader does before trusting it: magic, version, EOF opcode and
 * the trailing CRC-64, in one streaming pass with constant memory. It does not walk the key records;
 * `redis-check-rdb` or loading into a private server does that.
 */
import { readFileChunks } from '../file-chunks';
import { Transform, type TransformCallback } from 'node:stream';

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
const SELECTDB_OPCODE = 0xfe;
const RESIZEDB_OPCODE = 0xfb;
/** A RESIZEDB record is its opcode and two lengths of at most 9 bytes each. */
const RESIZEDB_MAX_BYTES = 19;
/** What a seam between two chunks must hold to show a record cut across it: a wide SELECTDB before it, and the record. */
const RESIZEDB_SPAN = 3 + RESIZEDB_MAX_BYTES;
/** Beyond this many look-alike byte patterns the stream is not worth watching (the counts then come from elsewhere). */
const RESIZEDB_CANDIDATE_LIMIT = 100_000;
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
  if (first >> 6 !== 3) {
    const length = readLength(buffer, offset);
    return length && readRawBytes(buffer, length.end, length.value);
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
  /**
   * `redis-check-rdb`, where it reads the same bytes, compares the CRC-64 itself: computing it here too
   * would cost a second pass of CPU over every byte and prove nothing more. Its report then says
   * whether the checksum matched (see `resultCheckedBy`).
   */
  constructor(private readonly checksum: 'computed' | 'left to redis-check-rdb' = 'computed') {
    super();
  }

  private readonly crc = new Crc64();
  private byteCount = 0;
  /** The newest 8 bytes: they are the stored CRC if the stream ends now, so not yet in the CRC. */
  private pendingTail = Buffer.alloc(0);
  /** The byte just before `pendingTail`, which must be the EOF opcode. */
  private lastCoveredByte: number | undefined;
  private header = Buffer.alloc(0);
  private headerDone = false;
  private headerProblem: RdbError | undefined;
  private rdbVersion: number | undefined;
  private redisVersion: string | undefined;
  private finished = false;
  /** `[keys, expires]` of every byte run that looks like a RESIZEDB right after a SELECTDB, by the offset of its opcode. */
  private readonly resizeCandidates = new Map<number, [number, number]>();
  private resizeWindow = Buffer.alloc(0);

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.inspect(chunk);
    callback(null, chunk);
  }

  /** Reads the next bytes of the RDB; keeps no reference to `chunk`, so its buffer may be reused. */
  inspect(chunk: Buffer): void {
    this.watchResizeRecords(chunk);
    this.byteCount += chunk.length;
    if (!this.headerDone) this.collectHeader(chunk);
    this.feedChecksum(chunk);
  }

  /**
   * The key and expire counts a RESIZEDB record at `offset` holds, if the bytes there look like one.
   * Which offsets are real records, only a parser of every key knows: `redis-check-rdb` reports them.
   */
  resizeRecordAt(offset: number): { keys: number; expires: number } | undefined {
    const found = this.resizeCandidates.get(offset);
    return found && { keys: found[0], expires: found[1] };
  }

  /**
   * Remembers every `0xFE <db> 0xFB <keys> <expires>` run. The chunk is scanned where it lies, and the
   * seam with the chunk before it (the end of that one and the start of this one) on its own, so a
   * record cut across two chunks is seen whole without copying whole chunks.
   */
  private watchResizeRecords(chunk: Buffer): void {
    if (this.resizeCandidates.size >= RESIZEDB_CANDIDATE_LIMIT) return;
    const seam = Buffer.concat([this.resizeWindow, chunk.subarray(0, RESIZEDB_SPAN)]);
    this.findResizeRecords(seam, this.byteCount - this.resizeWindow.length);
    this.findResizeRecords(chunk, this.byteCount);
    const kept = chunk.length >= RESIZEDB_SPAN ? chunk.subarray(chunk.length - RESIZEDB_SPAN) : seam.subarray(Math.max(0, seam.length - RESIZEDB_SPAN));
    // A copy, so the window never pins the caller's chunk.
    this.resizeWindow = Buffer.from(kept);
  }

  private findResizeRecords(bytes: Buffer, base: number): void {
    for (let at = bytes.indexOf(RESIZEDB_OPCODE, 2); at !== -1; at = bytes.indexOf(RESIZEDB_OPCODE, at + 1)) {
      const afterSelect = bytes[at - 2] === SELECTDB_OPCODE && bytes[at - 1]! >> 6 === 0;
      const afterWideSelect = at >= 3 && bytes[at - 3] === SELECTDB_OPCODE && bytes[at - 2]! >> 6 === 1;
      if (!afterSelect && !afterWideSelect) continue;
      const counts = readResizeCounts(bytes, at + 1);
      if (counts) this.resizeCandidates.set(base + at, counts);
    }
  }

  override _flush(callback: TransformCallback): void {
    this.finish();
    callback();
  }

  /** The RDB ended: no more bytes come. */
  finish(): void {
    this.finished = true;
    if (!this.headerDone) this.parseHeader(true);
  }

  result(): RdbFacts {
    if (this.checksum !== 'computed') throw new Error('RdbInspector.result() needs the checksum: call resultCheckedBy(report)');
    const facts = this.structure();
    const stored = this.pendingTail.readBigUInt64LE(0);
    if (stored === 0n) return { ...facts, checksum: 'disabled' };
    const computed = this.crc.value();
    if (computed !== stored) {
      throw new RdbError(`checksum mismatch: stored crc64 ${crc64Hex(stored)}, computed ${crc64Hex(computed)}`);
    }
    return { ...facts, checksum: 'ok' };
  }

  /** The facts of a stream whose checksum `redis-check-rdb` compared, from what it printed (`checkReport`). */
  resultCheckedBy(checkReport: string): RdbFacts {
    const facts = this.structure();
    if (/^\[offset \d+\] Checksum OK$/m.test(checkReport)) return { ...facts, checksum: 'ok' };
    if (/saved with checksum disabled/.test(checkReport) && this.pendingTail.readBigUInt64LE(0) === 0n) return { ...facts, checksum: 'disabled' };
    throw new RdbError('redis-check-rdb did not report that the checksum matched');
  }

  /** Header, version and end of the stream, as the loader checks them before the checksum. */
  private structure(): Omit<RdbFacts, 'checksum'> {
    if (!this.finished) throw new Error('RdbInspector.result() called before the stream finished');
    if (this.headerProblem) throw this.headerProblem;
    const rdbVersion = this.rdbVersion;
    if (rdbVersion === undefined || this.byteCount < HEADER_BYTES + TRAILER_BYTES) {
      throw new RdbError(`file too short: ${this.byteCount} bytes, an RDB has at least ${HEADER_BYTES + TRAILER_BYTES}`);
    }
    if (rdbVersion < FIRST_VERSION_WITH_CRC) {
      throw new RdbError(`RDB version ${rdbVersion} predates checksums (Redis < 2.6) and is not supported`);
    }
    if (this.lastCoveredByte !== EOF_OPCODE) {
      const found = (this.lastCoveredByte ?? 0).toString(16).padStart(2, '0');
      throw new RdbError(
        `truncated: no EOF marker (byte ${this.byteCount - TRAILER_BYTES} is 0x${found}, expected 0xff)`,
      );
    }
    return { rdbVersion, bytes: this.byteCount, ...(this.redisVersion === undefined ? {} : { redisVersion: this.redisVersion }) };
  }

  /** Keeps the last 8 bytes aside (the stored CRC, if the stream ends there), feeding the rest to the CRC when it is computed. */
  private feedChecksum(chunk: Buffer): void {
    const coverCount = this.pendingTail.length + chunk.length - CRC_BYTES;
    if (coverCount <= 0) {
      this.pendingTail = Buffer.concat([this.pendingTail, chunk]);
      return;
    }
    const fromTail = Math.min(coverCount, this.pendingTail.length);
    const fromChunk = coverCount - fromTail;
    if (this.checksum === 'computed') {
      this.crc.update(this.pendingTail.subarray(0, fromTail));
      this.crc.update(chunk.subarray(0, fromChunk));
    }
    this.lastCoveredByte = fromChunk > 0 ? chunk[fromChunk - 1] : this.pendingTail[fromTail - 1];
    // Concat copies, so the tail never pins the caller's (possibly large, pooled) chunk.
    this.pendingTail = Buffer.concat([this.pendingTail.subarray(fromTail), chunk.subarray(fromChunk)]);
  }

  private collectHeader(chunk: Buffer): void {
    const room = HEADER_BUFFER_LIMIT - this.header.length;
    this.header = Buffer.concat([this.header, chunk.subarray(0, room)]);
    this.parseHeader(this.header.length >= HEADER_BUFFER_LIMIT);
  }

  /**
   * Re-parses the buffered start of the file from scratch each time more arrives, which is cheap
   * because it stops at the first opcode that is not AUX. `final` means no more bytes will come.
   */
  private parseHeader(final: boolean): void {
    const header = this.header;
    try {
      if (header.length >= MAGIC.length && header.toString('latin1', 0, MAGIC.length) !== MAGIC) {
        const start = JSON.stringify(header.toString('latin1', 0, MAGIC.length));
        throw new RdbError(`not an RDB file: starts with ${start}, expected "${MAGIC}"`);
      }
      if (header.length < HEADER_BYTES) {
        this.headerDone = final;
        return;
      }
      const versionText = header.toString('latin1', MAGIC.length, HEADER_BYTES);
      if (!/^[0-9]{4}$/.test(versionText)) {
        throw new RdbError(`bad RDB header: version ${JSON.stringify(versionText)} is not 4 ASCII digits`);
      }
      this.rdbVersion = Number(versionText);
      let offset = HEADER_BYTES;
      let reachedFirstRecord = false;
      while (offset < header.length) {
        if (header[offset] !== AUX_OPCODE) {
          reachedFirstRecord = true;
          break;
        }
        const key = readRdbString(header, offset + 1);
        const value = key && readRdbString(header, key.end);
        if (!key || !value) break;
        if (key.value === 'redis-ver' && value.value !== undefined) this.redisVersion = value.value;
        offset = value.end;
      }
      this.headerDone = final || reachedFirstRecord;
    } catch (error) {
      if (!(error instanceof RdbError)) throw error;
      this.headerProblem = error;
      this.headerDone = true;
    }
    if (this.headerDone) this.header = Buffer.alloc(0);
  }
}

/** The two lengths of a RESIZEDB record; undefined when the bytes end first or are no lengths. */
function readResizeCounts(buffer: Buffer, offset: number): [number, number] | undefined {
  try {
    const keys = readLength(buffer, offset);
    const expires = keys && readLength(buffer, keys.end);
    return keys && expires ? [keys.value, expires.value] : undefined;
  } catch (error) {
    if (error instanceof RdbError) return undefined;
    throw error;
  }
}

/**
 * The keys of each database of an RDB that `redis-check-rdb` read to its end: it prints where each
 * database starts (`[offset N] Selecting DB ID k`, N being where the RESIZEDB record that Redis writes
 * there begins) and how many keys and expires it read in all. The counts come from those RESIZEDB
 * records, and must add up to what redis-check-rdb read, key by key. Undefined when they cannot be
 * found or do not add up.
 */
export function keysPerDatabase(checkOutput: string, inspector: Pick<RdbInspector, 'resizeRecordAt'>): Record<string, number> | undefined {
  const read = /^\[info\] (\d+) keys read$/m.exec(checkOutput);
  const expires = /^\[info\] (\d+) expires$/m.exec(checkOutput);
  if (!read || !expires) return undefined;
  const counts: Record<string, number> = {};
  let keySum = 0;
  let expireSum = 0;
  for (const [, offset, db] of checkOutput.matchAll(/^\[offset (\d+)\] Selecting DB ID (\d+)$/gm)) {
    const record = inspector.resizeRecordAt(Number(offset));
    if (!record) return undefined;
    keySum += record.keys;
    expireSum += record.expires;
    if (record.keys > 0) counts[`db${db}`] = (counts[`db${db}`] ?? 0) + record.keys;
  }
  return keySum === Number(read[1]) && expireSum === Number(expires[1]) ? counts : undefined;
}

/** Reads a whole RDB file through `inspector` (one reused buffer) and returns it finished. */
export async function inspectRdbFileWith<T extends RdbInspector>(path: string, inspector: T): Promise<T> {
  await readFileChunks(path, (chunk) => inspector.inspect(chunk));
  inspector.finish();
  return inspector;
}

/** Reads a whole RDB file through an `RdbInspector`, CRC-64 included; throws `RdbError` when the file is not sound. */
export async function inspectRdbFile(path: string): Promise<RdbFacts> {
  return (await inspectRdbFileWith(path, new RdbInspector())).result();
}

/**
 * The newest RDB version each Redis release loads (`RDB_VERSION` in `src/rdb.h`). The loader refuses
 * anything newer, so an RDB can only move to the same or a later Redis.
 */
export const MAX_RDB_VERSION_BY_REDIS: Readonly<Record<string, number>> = {
  '5.0': 9,
  '6.0': 9,
  '6.2': 9,
  '7.0': 10,
  '7.2': 11,
  '7.4': 12,
};

/** `maxRdbVersionFor('7.0.15')` is 10; undefined for releases not in the table. */
export function maxRdbVersionFor(redisVersion: string): number | undefined {
  const majorMinor = /^(\d+)\.(\d+)/.exec(redisVersion.trim());
  if (!majorMinor) return undefined;
  return MAX_RDB_VERSION_BY_REDIS[`${Number(majorMinor[1])}.${Number(majorMinor[2])}`];
}
