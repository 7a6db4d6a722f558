/**
 * Compression as streams. zstd and, where installed, pigz run as child processes that use both cores;
 * gzip falls back to Node's zlib. Every child's exit code is checked before its output counts as ended.
 */
import { spawnSync } from 'node:child_process';
import { availableParallelism } from 'node:os';
import type { Duplex } from 'node:stream';
import { createGunzip, createGzip } from 'node:zlib';
import type { Compression, CompressionAlgorithm } from '../core/compression';
import { childFilter } from './child-process';

const threads = String(Math.max(1, availableParallelism()));
let pigzInstalled: boolean | undefined;

function hasPigz(): boolean {
  pigzInstalled ??= spawnSync('pigz', ['--version'], { stdio: 'ignore' }).status === 0;
  return pigzInstalled;
}

/** A compressing stream for `compression`. */
export function compressor(compression: Compression, signal?: AbortSignal): Duplex {
  if (compression.algorithm === 'zstd') return childFilter('zstd', ['-q', `-${compression.level}`, `-T${threads}`, '-c'], signal);
  if (hasPigz()) return childFilter('pigz', [`-${compression.level}`, '-p', threads, '-c'], signal);
  return createGzip({ level: compression.level });
}

/** A decompressing stream for a file written with `algorithm`. */
export function decompressor(algorithm: CompressionAlgorithm, signal?: AbortSignal): Duplex {
  return algorithm === 'zstd' ? childFilter('zstd', ['-q', '-d', '-c'], signal) : createGunzip();
}
