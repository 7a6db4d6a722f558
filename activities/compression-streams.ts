/**
 * Compression as streams. zstd and, where installed, pigz run as child processes that use both cores;
 * gzip falls back to Node's zlib. Every child's exit code is checked before its output counts as ended.
 */
import { spawnSync } from 'node:child_process';
import { availableParallelism } from 'node:os';
import type { Duplex } from 'node:stream';
import { createGunzip, createGzip } from 'node:zlib';
import type { Compression, CompressionAlgorithm } from '../core/compression';
import { childFilter, type Command } from './child-process';

const threads = String(Math.max(1, availableParallelism()));
const installed = new Map<string, boolean>();

function isInstalled(program: 'pigz' | 'zstd'): boolean {
  if (!installed.has(program)) installed.set(program, spawnSync(program, ['--version'], { stdio: 'ignore' }).status === 0);
  return installed.get(program)!;
}

function hasPigz(): boolean {
  return isInstalled('pigz');
}

/**
 * The cheapest compression for a file that lives only minutes (a restore's safety snapshot): zstd at
 * level 1 where installed (several times faster than gzip -1), else `configured` at level 1.
 */
export function fastestCompression(configured: Compression): Compression {
  return isInstalled('zstd') ? { algorithm: 'zstd', level: 1 } : { ...configured, level: 1 };
}

/** The program that compresses stdin to stdout for `compression`; none when gzip falls back to Node's zlib. */
export function compressorCommand(compression: Compression): Command | undefined {
  if (compression.algorithm === 'zstd') return { command: 'zstd', args: ['-q', `-${compression.level}`, `-T${threads}`, '-c'] };
  if (hasPigz()) return { command: 'pigz', args: [`-${compression.level}`, '-p', threads, '-c'] };
  return undefined;
}

/** A compressing stream for `compression`. */
export function compressor(compression: Compression, signal?: AbortSignal): Duplex {
  const command = compressorCommand(compression);
  return command ? childFilter(command.command, command.args, signal) : createGzip({ level: compression.level });
}

/** The program that decompresses stdin to stdout for a file written with `algorithm`. */
export function decompressorCommand(algorithm: CompressionAlgorithm): Command {
  if (algorithm === 'zstd') return { command: 'zstd', args: ['-q', '-d', '-c'] };
  return hasPigz() ? { command: 'pigz', args: ['-d', '-c'] } : { command: 'gzip', args: ['-d', '-c'] };
}

/** A decompressing stream for a file written with `algorithm`. */
export function decompressor(algorithm: CompressionAlgorithm, signal?: AbortSignal): Duplex {
  return algorithm === 'zstd' ? childFilter('zstd', ['-q', '-d', '-c'], signal) : createGunzip();
}
