/**
 * A minimal streaming tar writer and reader, enough for the Qdrant archive of a backup set and for
 * checking Qdrant's own collection snapshots (uncompressed tars written by the Rust `tar` crate, GNU
 * headers). Nothing here holds an entry's data in memory: the writer yields blocks for a stream
 * pipeline, the reader is fed chunks and reports entries and data as events.
 *
 * Writer: POSIX ustar headers; a name over 100 bytes or a size over 8 GiB gets a pax extended header
 * (`path=`, `size=`), the size field then also carries GNU base-256.
 * Reader: ustar and GNU headers, pax (`x`, `g`) and GNU long names (`L`, `K`), GNU sparse members
 * (old GNU type `S`, as Qdrant's snapshots hold them: the Rust `tar` crate's `sparse(true)`; 4 regions
 * in the header, then extension blocks of 21 regions each while `isextended` is set), octal and
 * base-256 numbers; every header checksum is checked, a sparse map must add up to the stored bytes,
 * and the archive must end with two zero blocks followed by nothing but zeros, so a truncated or
 * garbled archive never reads as complete.
 */

export const BLOCK = 512;
const MAX_META_BYTES = 1 << 20;
const MAX_OCTAL_SIZE = 0o77777777777; // 8 GiB - 1: what 11 octal digits hold

export class TarFormatError extends Error {
  override name = 'TarFormatError';
}

// ---- writing --------------------------------------------------------------------------------

/** The header block(s) of one regular file entry: a pax header first when the name or size needs one. */
export function fileHeader(name: string, size: number, mtime: Date): Buffer {
  const records: string[] = [];
  const nameBytes = Buffer.byteLength(name);
  if (nameBytes > 100) records.push(paxRecord('path', name));
  if (size > MAX_OCTAL_SIZE) records.push(paxRecord('size', String(size)));
  const main = ustarHeader(nameBytes > 100 ? fallbackName(name) : name, '0', size, mtime);
  if (records.length === 0) return main;
  const pax = Buffer.from(records.join(''), 'utf8');
  return Buffer.concat([ustarHeader('PaxHeader', 'x', pax.length, mtime), pax, padding(pax.length), main]);
}

/** Zero bytes that fill `size` up to a whole block. */
export function padding(size: number): Buffer {
  return Buffer.alloc((BLOCK - (size % BLOCK)) % BLOCK);
}

/** The end-of-archive marker: two zero blocks. */
export function endOfArchive(): Buffer {
  return Buffer.alloc(2 * BLOCK);
}

/** `<length> <key>=<value>\n`, where length counts the whole record including its own digits. */
function paxRecord(key: string, value: string): string {
  const rest = ` ${key}=${value}\n`;
  const restBytes = Buffer.byteLength(rest);
  let length = restBytes + String(restBytes).length;
  while (String(length).length + restBytes !== length) length = String(length).length + restBytes;
  return `${length}${rest}`;
}

/** What readers without pax support see: the last 100 bytes' worth of ASCII of the name. */
function fallbackName(name: string): string {
  const ascii = name.replace(/[^\x20-\x7e]/g, '_');
  return ascii.slice(-100);
}

function ustarHeader(name: string, type: '0' | 'x', size: number, mtime: Date): Buffer {
  const h = Buffer.alloc(BLOCK);
  h.write(name, 0, 100, 'utf8');
  writeOctal(h, 100, 8, 0o644);
  writeOctal(h, 108, 8, 0);
  writeOctal(h, 116, 8, 0);
  if (size > MAX_OCTAL_SIZE) writeBase256(h, 124, 12, size);
  else writeOctal(h, 124, 12, size);
  writeOctal(h, 136, 12, Math.max(0, Math.floor(mtime.getTime() / 1000)));
  h.write(type, 156, 1, 'ascii');
  h.write('ustar\0', 257, 6, 'ascii');
  h.write('00', 263, 2, 'ascii');
  h.fill(0x20, 148, 156);
  h.write(`${unsignedSum(h).toString(8).padStart(6, '0')}\0 `, 148, 8, 'ascii');
  return h;
}

function writeOctal(h: Buffer, offset: number, length: number, value: number): void {
  h.write(`${value.toString(8).padStart(length - 1, '0')}\0`, offset, length, 'ascii');
}

function writeBase256(h: Buffer, offset: number, length: number, value: number): void {
  let rest = BigInt(value);
  for (let i = offset + length - 1; i > offset; i--) {
    h[i] = Number(rest & 0xffn);
    rest >>= 8n;
  }
  h[offset] = 0x80;
}

// ---- reading --------------------------------------------------------------------------------

export type TarEvent =
  /** `size`: the bytes stored in the archive; for a sparse member also its `realSize` and data `regions`. */
  | { kind: 'entry'; name: string; size: number; type: string; sparse?: { realSize: number; regions: number } }
  | { kind: 'data'; chunk: Buffer }
  | { kind: 'entryEnd' }
  | { kind: 'end' };

const META_TYPES = new Set(['x', 'g', 'L', 'K']);

/**
 * A push parser: `push` each chunk in order and act on the returned events, then call `finish`, which
 * throws when the archive stopped before its end-of-archive marker. Data events are views into the
 * pushed chunks, valid until the next push.
 */
export class TarParser {
  private state: 'header' | 'sparseExtension' | 'data' | 'padding' | 'secondZero' | 'end' = 'header';
  /** The sparse member whose extension blocks are being read. */
  private sparse: { entry: Extract<TarEvent, { kind: 'entry' }>; map: SparseMap; blockOffset: number } | undefined;
  private readonly block = Buffer.alloc(BLOCK);
  private filled = 0;
  private remaining = 0;
  private offset = 0;
  private meta: { type: string; chunks: Buffer[]; size: number } | undefined;
  private pending: { path?: string; size?: number } = {};
  /** Regular and other entries seen, meta headers excluded. */
  entries = 0;

  get complete(): boolean {
    return this.state === 'end';
  }

  push(chunk: Buffer): TarEvent[] {
    const events: TarEvent[] = [];
    let at = 0;
    while (at < chunk.length) {
      if (this.state === 'end') {
        const rest = chunk.subarray(at);
        if (rest.some((byte) => byte !== 0)) {
          throw new TarFormatError(`data after the end-of-archive marker at offset ${this.offset + rest.findIndex((b) => b !== 0)}`);
        }
        this.offset += rest.length;
        return events;
      }
      if (this.state === 'data' || this.state === 'padding') {
        const take = Math.min(this.remaining, chunk.length - at);
        const part = chunk.subarray(at, at + take);
        at += take;
        this.offset += take;
        this.remaining -= take;
        if (this.state === 'data') {
          if (this.meta) {
            this.meta.size += part.length;
            if (this.meta.size > MAX_META_BYTES) throw new TarFormatError(`extended header larger than ${MAX_META_BYTES} bytes`);
            this.meta.chunks.push(Buffer.from(part));
          } else if (part.length > 0) {
            events.push({ kind: 'data', chunk: part });
          }
        }
        if (this.remaining === 0) this.afterRun(events);
        continue;
      }
      // header or second zero block: collect a whole block
      const take = Math.min(BLOCK - this.filled, chunk.length - at);
      chunk.copy(this.block, this.filled, at, at + take);
      this.filled += take;
      at += take;
      if (this.filled < BLOCK) break;
      this.filled = 0;
      const blockOffset = this.offset;
      this.offset += BLOCK;
      if (this.state === 'sparseExtension') {
        this.sparseExtension(blockOffset, events);
        continue;
      }
      if (this.state === 'secondZero') {
        if (!isZero(this.block)) throw new TarFormatError(`a lone zero block at offset ${blockOffset - BLOCK}`);
        this.state = 'end';
        events.push({ kind: 'end' });
        continue;
      }
      this.header(blockOffset, events);
    }
    return events;
  }

  /** Throws unless the end-of-archive marker was read. */
  finish(): void {
    if (this.state !== 'end') {
      throw new TarFormatError(`the archive ends at byte ${this.offset} without its end-of-archive marker (truncated)`);
    }
  }

  private afterRun(events: TarEvent[]): void {
    if (this.state === 'data') {
      const size = this.meta ? this.meta.size : this.dataSize;
      if (this.meta) this.applyMeta();
      else events.push({ kind: 'entryEnd' });
      this.remaining = (BLOCK - (size % BLOCK)) % BLOCK;
      this.state = this.remaining > 0 ? 'padding' : 'header';
    } else {
      this.state = 'header';
    }
  }

  private dataSize = 0;

  private header(blockOffset: number, events: TarEvent[]): void {
    const h = this.block;
    if (isZero(h)) {
      if (this.meta || this.pending.path !== undefined || this.pending.size !== undefined) {
        throw new TarFormatError(`an extended header at offset ${blockOffset} is followed by no entry`);
      }
      this.state = 'secondZero';
      return;
    }
    const stored = parseNumber(h, 148, 8);
    if (stored === undefined || (stored !== unsignedSum(h) && stored !== signedSum(h))) {
      throw new TarFormatError(`bad header checksum at offset ${blockOffset}`);
    }
    const magic = h.toString('latin1', 257, 263);
    if (!magic.startsWith('ustar')) throw new TarFormatError(`no ustar header at offset ${blockOffset}`);
    const gnu = magic === 'ustar ';
    const type = String.fromCharCode(h[156] ?? 0) || '0';
    let size = parseNumber(h, 124, 12);
    if (size === undefined) throw new TarFormatError(`bad size field at offset ${blockOffset}`);
    if (META_TYPES.has(type)) {
      this.meta = { type, chunks: [], size: 0 };
      this.dataSize = size;
      this.remaining = size;
      this.state = 'data';
      if (size === 0) this.afterRun(events);
      return;
    }
    let name = readString(h, 0, 100);
    const prefix = gnu ? '' : readString(h, 345, 155);
    if (prefix) name = `${prefix}/${name}`;
    if (this.pending.path !== undefined) name = this.pending.path;
    if (this.pending.size !== undefined) size = this.pending.size;
    this.pending = {};
    this.entries++;
    if (type === 'S') {
      const map: SparseMap = { realSize: parseNumber(h, 483, 12), stored: 0, regions: 0, end: 0 };
      addRegions(map, h, 386, 4, blockOffset);
      const entry: Extract<TarEvent, { kind: 'entry' }> = { kind: 'entry', name, size, type };
      if (h[482]) {
        this.sparse = { entry, map, blockOffset };
        this.state = 'sparseExtension';
        return;
      }
      this.startSparseData(entry, map, blockOffset, events);
      return;
    }
    // Links, directories, devices and FIFOs carry no data whatever their size field says.
    const data = type === '0' || type === '\0' || type === '7' ? size : 0;
    events.push({ kind: 'entry', name, size: data, type: type === '\0' ? '0' : type });
    this.dataSize = data;
    this.remaining = data;
    this.state = 'data';
    if (data === 0) this.afterRun(events);
  }

  /** One extension block of a sparse member's map: 21 regions, then `isextended` at byte 504. */
  private sparseExtension(blockOffset: number, events: TarEvent[]): void {
    const sparse = this.sparse!;
    addRegions(sparse.map, this.block, 0, 21, blockOffset);
    if (this.block[504]) return;
    this.sparse = undefined;
    this.startSparseData(sparse.entry, sparse.map, sparse.blockOffset, events);
  }

  private startSparseData(entry: Extract<TarEvent, { kind: 'entry' }>, map: SparseMap, blockOffset: number, events: TarEvent[]): void {
    if (map.realSize === undefined || map.stored !== entry.size || map.end > map.realSize) {
      throw new TarFormatError(
        `the sparse map of ${entry.name} (header at offset ${blockOffset}) holds ${map.stored} bytes up to ${map.end}, ` +
          `its header says ${entry.size} stored of ${map.realSize ?? '?'}`,
      );
    }
    events.push({ ...entry, sparse: { realSize: map.realSize, regions: map.regions } });
    this.dataSize = entry.size;
    this.remaining = entry.size;
    this.state = 'data';
    if (entry.size === 0) this.afterRun(events);
  }

  private applyMeta(): void {
    const meta = this.meta!;
    this.meta = undefined;
    const content = Buffer.concat(meta.chunks);
    if (meta.type === 'L') this.pending.path = readString(content, 0, content.length);
    if (meta.type !== 'x') return;
    let at = 0;
    while (at < content.length) {
      const space = content.indexOf(0x20, at);
      const length = space === -1 ? NaN : Number(content.toString('ascii', at, space));
      if (!Number.isInteger(length) || length <= 0 || at + length > content.length) {
        throw new TarFormatError('malformed pax extended header');
      }
      const record = content.toString('utf8', space + 1, at + length - 1);
      const eq = record.indexOf('=');
      const [key, value] = [record.slice(0, eq), record.slice(eq + 1)];
      if (key === 'path') this.pending.path = value;
      if (key === 'size') {
        const size = Number(value);
        if (!Number.isSafeInteger(size) || size < 0) throw new TarFormatError(`bad pax size ${value}`);
        this.pending.size = size;
      }
      at += length;
    }
  }
}

interface SparseMap {
  realSize: number | undefined;
  /** Bytes of data the regions add up to (what the archive stores). */
  stored: number;
  regions: number;
  /** Where the last region ends in the real file. */
  end: number;
}

/** Adds up to `count` regions (offset, length: 12 bytes each) from `block` at `at`; an all-zero slot ends the list. */
function addRegions(map: SparseMap, block: Buffer, at: number, count: number, blockOffset: number): void {
  for (let i = 0; i < count; i++) {
    const slot = at + i * 24;
    if (block[slot] === 0) return;
    const offset = parseNumber(block, slot, 12);
    const length = parseNumber(block, slot + 12, 12);
    if (offset === undefined || length === undefined || offset < map.end) {
      throw new TarFormatError(`bad sparse map entry in the header block at offset ${blockOffset}`);
    }
    map.stored += length;
    map.end = offset + length;
    map.regions++;
  }
}

function isZero(buf: Buffer): boolean {
  for (const byte of buf) if (byte !== 0) return false;
  return true;
}

function unsignedSum(h: Buffer): number {
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : (h[i] ?? 0);
  return sum;
}

function signedSum(h: Buffer): number {
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : ((h[i] ?? 0) << 24) >> 24;
  return sum;
}

function readString(buf: Buffer, offset: number, length: number): string {
  const raw = buf.subarray(offset, offset + length);
  const end = raw.indexOf(0);
  return raw.subarray(0, end === -1 ? raw.length : end).toString('utf8');
}

/** Octal (NUL/space terminated) or GNU base-256 (high bit of the first byte set). */
function parseNumber(h: Buffer, offset: number, length: number): number | undefined {
  const first = h[offset] ?? 0;
  if (first & 0x80) {
    if (first !== 0x80) return undefined; // negative or over 2^(8*length-1): not a size we accept
    let value = 0n;
    for (let i = offset + 1; i < offset + length; i++) value = (value << 8n) | BigInt(h[i] ?? 0);
    return value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(value) : undefined;
  }
  const text = h.toString('latin1', offset, offset + length).replace(/[\0 ]+$/, '').replace(/^ +/, '');
  if (text === '') return 0;
  if (!/^[0-7]+$/.test(text)) return undefined;
  return parseInt(text, 8);
}
