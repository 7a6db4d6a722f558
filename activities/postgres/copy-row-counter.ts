import { Transform, type TransformCallback } from 'node:stream';

/**
 * Counts data rows per table in plain SQL as pg_dump and pg_restore write it, passing the SQL through:
 * each `COPY t (...) FROM stdin;` is followed by one line per row and ends with `\.`. Reading the whole
 * stream this way proves the archive is complete and readable, and gives row counts to compare with the
 * database's.
 */
export class CopyRowCounter extends Transform {
  readonly counts: Record<string, number> = {};
  bytes = 0;
  private table: string | undefined;
  private rows = 0;
  private pending: Buffer = Buffer.alloc(0);

  constructor(private readonly onBytes?: (bytes: number) => void) {
    super({ highWaterMark: 1 << 20 });
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.count(chunk);
    callback(null, chunk);
  }

  override _flush(callback: TransformCallback): void {
    try {
      this.finish();
      callback();
    } catch (error) {
      callback(error as Error);
    }
  }

  /** Reads the next bytes of SQL; keeps no reference to `chunk`, so its buffer may be reused. */
  count(chunk: Buffer): void {
    this.bytes += chunk.length;
    this.onBytes?.(this.bytes);
    let start = 0;
    const first = chunk.indexOf(10);
    if (this.pending.length > 0 && first !== -1) {
      // Only the line cut by the chunk's start is joined; the rest is read where it lies.
      const joined = Buffer.concat([this.pending, chunk.subarray(0, first)]);
      this.line(joined, 0, joined.length);
      this.pending = Buffer.alloc(0);
      start = first + 1;
    }
    for (let end = first === -1 ? -1 : chunk.indexOf(10, start); end !== -1; end = chunk.indexOf(10, start)) {
      this.line(chunk, start, end);
      start = end + 1;
    }
    // A copy, so the tail never pins the chunk.
    this.pending = Buffer.concat([this.pending, chunk.subarray(start)]);
  }

  /** The SQL ended; throws when it ended inside a table's data. */
  finish(): void {
    if (this.pending.length > 0) this.line(this.pending, 0, this.pending.length);
    this.pending = Buffer.alloc(0);
    if (this.table !== undefined) throw new Error(`the SQL ends inside the data of ${this.table}`);
  }

  private line(data: Buffer, start: number, end: number): void {
    if (this.table !== undefined) {
      // 0x5c 0x2e is `\.`, the end-of-data marker; a row's own backslashes are escaped, so it cannot start a row alone.
      if (end - start === 2 && data[start] === 0x5c && data[start + 1] === 0x2e) {
        this.counts[this.table] = (this.counts[this.table] ?? 0) + this.rows;
        this.table = undefined;
      } else {
        this.rows += 1;
      }
      return;
    }
    // 'C' of COPY: only then is the line worth decoding.
    if (data[start] !== 0x43) return;
    const text = data.toString('utf8', start, end);
    const match = /^COPY (.+?) +(?:\(.*\) +)?FROM stdin;$/.exec(text);
    if (!match) return;
    this.table = unquoteQualifiedName(match[1]!);
    this.rows = 0;
  }
}

/** `public."Odd ""name"""` → `public.Odd "name"`, as the catalog spells it. */
export function unquoteQualifiedName(text: string): string {
  const parts: string[] = [];
  let current = '';
  let quoted = false;
  for (let i = 0; i < text.length; i += 1) {
    const ch = text[i]!;
    if (quoted) {
      if (ch === '"' && text[i + 1] === '"') {
        current += '"';
        i += 1;
      } else if (ch === '"') {
        quoted = false;
      } else {
        current += ch;
      }
    } else if (ch === '"') {
      quoted = true;
    } else if (ch === '.') {
      parts.push(current);
      current = '';
    } else {
      current += ch;
    }
  }
  parts.push(current);
  return parts.join('.');
}
