/**
 * Writes `data` to a data file through writeDataFileFromChunks, lending every chunk from one buffer that
 * is rewritten as soon as its write settled: bytes a writer had not taken by then are lost. Run as a
 * program (`<path> <algorithm>`, the data on stdin) by a test that needs a process whose PATH lacks
 * pigz, since the choice of compressor is made once per process.
 */
import { writeDataFileFromChunks, type WrittenDataFile } from '../../activities/data-file-streams';
import type { CompressionAlgorithm } from '../../core/compression';

export async function writeLentChunks(path: string, data: Buffer, algorithm: CompressionAlgorithm): Promise<WrittenDataFile> {
  const lent = Buffer.alloc(64 * 1024);
  const { writer, written } = writeDataFileFromChunks(path, { compression: { algorithm, level: 3 }, recipients: [] });
  for (let offset = 0; offset < data.length; offset += lent.length) {
    const size = data.copy(lent, 0, offset, offset + lent.length);
    await writer.write(lent.subarray(0, size));
    lent.fill(0);
  }
  await writer.end();
  return written;
}

if (process.argv[1]?.endsWith('write-lent-chunks.ts')) {
  const chunks: Buffer[] = [];
  process.stdin.on('data', (chunk: Buffer) => chunks.push(chunk));
  process.stdin.on('end', () => {
    writeLentChunks(process.argv[2]!, Buffer.concat(chunks), process.argv[3] as CompressionAlgorithm).then(
      (written) => console.log(JSON.stringify(written)),
      (error: Error) => {
        console.error(error.message);
        process.exitCode = 1;
      },
    );
  });
}
