// Deterministic test content made on the fly, so large sources never sit in memory and the
// expected hash can be computed by generating the same bytes again.
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';

export const MiB = 1024 * 1024;

/**
 * 'random': incompressible (xorshift32 words). 'heapish': compressible like a heap dump,
 * repeated records with varying numbers, so gzip has real work and chunks differ.
 */
export type DataKind = 'random' | 'heapish';

export function* dataChunks(total: number, kind: DataKind = 'random', seed = 1, chunkSize = 64 * 1024): Generator<Buffer> {
  let state = seed >>> 0 || 1;
  const next = (): number => {
    state ^= state << 13;
    state >>>= 0;
    state ^= state >>> 17;
    state ^= state << 5;
    state >>>= 0;
    return state;
  };
  let produced = 0;
  while (produced < total) {
    const size = Math.min(chunkSize, total - produced);
    const chunk = Buffer.allocUnsafe(size);
    if (kind === 'random') {
      for (let i = 0; i < size; i += 4) {
        const word = next();
        for (let b = 0; b < 4 && i + b < size; b++) chunk[i + b] = (word >>> (8 * b)) & 0xff;
      }
    } else {
      let offset = 0;
      while (offset < size) {
        const line = `obj@${(next() % 100000).toString(16)} java.lang.String len=${next() % 512} refs=[${next() % 7}]\n`;
        offset += chunk.write(line, offset);
      }
    }
    produced += size;
    yield chunk;
  }
}

export function dataStream(total: number, kind: DataKind = 'random', seed = 1): Readable {
  return Readable.from(dataChunks(total, kind, seed), { objectMode: false });
}

export function dataSha256(total: number, kind: DataKind = 'random', seed = 1): string {
  const hash = createHash('sha256');
  for (const chunk of dataChunks(total, kind, seed)) hash.update(chunk);
  return hash.digest('hex');
}

export function sha256(data: Buffer | string): string {
  return createHash('sha256').update(data).digest('hex');
}

export async function streamDigest(stream: AsyncIterable<Buffer | string>): Promise<{ sha256: string; bytes: number }> {
  const hash = createHash('sha256');
  let bytes = 0;
  for await (const chunk of stream) {
    const buffer = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    hash.update(buffer);
    bytes += buffer.length;
  }
  return { sha256: hash.digest('hex'), bytes };
}

export async function collect(stream: AsyncIterable<Buffer | string>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
  return Buffer.concat(chunks);
}
