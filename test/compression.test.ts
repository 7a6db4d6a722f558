import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { test } from 'node:test';
import { compressor, decompressor } from '../activities/compression-streams';
import { writeLentChunks } from './support/write-lent-chunks';
import { readDataFileChunks, writeDataFileFromChunks } from '../activities/data-file-streams';
import { loadConfig } from '../core/config';

async function collect(source: Readable, stage: NodeJS.ReadWriteStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  await pipeline(source, stage, async (input: AsyncIterable<Buffer | string>) => {
    for await (const chunk of input) chunks.push(Buffer.from(chunk));
  });
  return Buffer.concat(chunks);
}

test('compression: gzip and zstd streams round-trip', async () => {
  const data = Buffer.concat([randomBytes(300_000), Buffer.alloc(3_000_000, 'scholaria ')]);
  for (const algorithm of ['gzip', 'zstd'] as const) {
    const packed = await collect(Readable.from([data]), compressor({ algorithm, level: 3 }));
    assert.ok(packed.length < data.length / 2, `${algorithm} compresses`);
    assert.deepEqual(await collect(Readable.from([packed]), decompressor(algorithm)), data);
  }
});

test('compression: a corrupt zstd stream fails instead of ending quietly', async () => {
  const packed = await collect(Readable.from([Buffer.alloc(1_000_000, 'x')]), compressor({ algorithm: 'zstd', level: 3 }));
  await assert.rejects(collect(Readable.from([packed.subarray(0, packed.length - 20)]), decompressor('zstd')), /zstd exited with code 1/);
});

test('compression: BACKUP_COMPRESSION and its level are validated', () => {
  assert.deepEqual(loadConfig({}).compression, { algorithm: 'gzip', level: 6 });
  assert.deepEqual(loadConfig({ BACKUP_COMPRESSION: 'zstd' }).compression, { algorithm: 'zstd', level: 3 });
  assert.throws(() => loadConfig({ BACKUP_COMPRESSION: 'lz4' }), /^ConfigError: BACKUP_COMPRESSION must be gzip or zstd$/);
  assert.throws(() => loadConfig({ BACKUP_COMPRESSION: 'gzip', BACKUP_COMPRESSION_LEVEL: '12' }), /BACKUP_COMPRESSION_LEVEL must be between 1 and 9 for gzip/);
});

test('compression: a stored .zst file is lent chunk by chunk: a consumer slower than zstd gets every byte, and a cut file fails with zstd\'s reason', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'scholaria-chunks-'));
  try {
    const data = Buffer.concat([randomBytes(2_000_000), Buffer.alloc(6_000_000, 'scholaria ')]);
    const path = join(dir, 'data.zst');
    await pipeline(Readable.from([data]), compressor({ algorithm: 'zstd', level: 3 }), createWriteStream(path));
    const config = loadConfig({});
    const received: Buffer[] = [];
    // Copies each chunk only after a pause: a read into the same buffer before that would corrupt the copy.
    await readDataFileChunks(path, config, async (chunk) => {
      await new Promise((resolve) => setTimeout(resolve, 1));
      received.push(Buffer.from(chunk));
    }, new AbortController().signal);
    assert.ok(received.length > 10, `read in ${received.length} chunks`);
    assert.ok(Buffer.concat(received).equals(data), 'the consumer got every byte, in order');

    const cut = join(dir, 'cut.zst');
    const packed = await collect(Readable.from([data]), compressor({ algorithm: 'zstd', level: 3 }));
    await writeFile(cut, packed.subarray(0, packed.length - 20));
    await assert.rejects(readDataFileChunks(cut, config, () => undefined, new AbortController().signal), /zstd exited with code 1/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('compression: a data file written from lent chunks holds every byte, though one buffer is rewritten after each write; a failed compressor leaves no file', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'scholaria-chunks-'));
  try {
    const data = Buffer.concat([randomBytes(1_500_000), Buffer.alloc(5_000_000, 'COPY public.t (a) FROM stdin;\n')]);
    const stored = async (path: string, algorithm: 'gzip' | 'zstd', file: { bytes: number; sha256: string }) => {
      const bytes = await readFile(path);
      assert.equal(file.bytes, bytes.length);
      assert.equal(file.sha256, createHash('sha256').update(bytes).digest('hex'));
      assert.ok(bytes.length < data.length / 2, `${algorithm} compresses`);
      assert.ok((await collect(Readable.from([bytes]), decompressor(algorithm))).equals(data), `${algorithm}: every byte, in order`);
    };
    // zstd, and gzip by pigz: the programs read the chunks from their stdin.
    for (const algorithm of ['zstd', 'gzip'] as const) {
      const path = join(dir, `data.sql.${algorithm}`);
      await stored(path, algorithm, await writeLentChunks(path, data, algorithm));
    }
    // gzip without pigz is Node's zlib, which may hold a chunk after its write returned.
    const path = join(dir, 'zlib.sql.gz');
    const withoutPigz = spawnSync(process.execPath, ['--import', 'tsx', join(__dirname, 'support', 'write-lent-chunks.ts'), path, 'gzip'], {
      input: data,
      env: { ...process.env, PATH: '' },
      encoding: 'utf8',
    });
    assert.equal(withoutPigz.status, 0, withoutPigz.stderr);
    await stored(path, 'gzip', JSON.parse(withoutPigz.stdout) as { bytes: number; sha256: string });

    const failed = join(dir, 'failed.sql.zst');
    const { writer, written } = writeDataFileFromChunks(failed, { compression: { algorithm: 'zstd', level: 3 }, recipients: ['age1notarecipient'] });
    await Promise.allSettled([writer.write(data.subarray(0, 100_000)), writer.end()]);
    await assert.rejects(written, /age exited with code/);
    await assert.rejects(readFile(failed), { code: 'ENOENT' });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
