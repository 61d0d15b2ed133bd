// One streaming pass from an artifact's source into a store, with taps that hash and
// compress on the way. Memory stays bounded by the store (partSize × queueSize for S3).
//
// Two deliberate choices:
//
// 1. Compressed objects are stored as `<name>.gz` with Content-Type application/gzip (or
//    `<name>.zst`, application/zstd, with POSTMORTEM_COMPRESSION=zstd) and NO Content-Encoding
//    header. With `Content-Encoding: gzip` (or zstd), browsers, `curl --compressed`,
//    some SDKs and proxies decompress transparently on download, so the bytes a user gets no
//    longer match storedSha256 or Content-Length and a verify step would report corruption
//    that is not there. The encoding is recorded in the report (contentEncoding) and in the
//    object's metadata (`stored-encoding`).
//
// 2. A stream's sha256 is known only after its last byte, but S3 metadata is sent with the
//    first request. Rewriting metadata afterwards needs a CopyObject, which for multi-GB heap
//    dumps doubles the work and needs more permissions than PutObject. So the report
//    (report.json, written last) is the source of truth for hashes: streamed objects carry
//    `sha256-in: <report key>` pointing at it, and only objects written from memory
//    (storeBytes / storeJson: the log tail, the report itself) carry `sha256` directly.
import { createHash } from 'node:crypto';
import { Readable, type Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { artifactKey, reportKey } from './keys.ts';
import { StoreError, type PutResult, type RequestLimits, type Store } from './store.ts';
import { ZSTD_LEVEL, codecOf, type Compression } from './codecs.ts';
import { ParallelCompress } from './parallel-compress.ts';
import { GunzipHashTap, HashTap, type ContentObserver, type Digest } from './taps.ts';

export const DEFAULT_GZIP_LEVEL = 1;

export interface ArtifactSpec {
  /** File name inside the crash prefix, e.g. 'heap.hprof' ('.gz' or '.zst' is added when compressing). */
  name: string;
  source: Readable | AsyncIterable<Buffer>;
  /** Type of the content (uncompressed), e.g. 'text/plain'. */
  contentType: string;
  /** 'compress': we compress it (`compression`); 'already-gzip': the source is gzip (hashed through gunzip); 'raw': as is. */
  encoding: 'compress' | 'already-gzip' | 'raw';
  /** zlib level for 'compress', default 1 (~3.4x on heap dumps, blocks gzipped on several cores); 0 stores raw. */
  gzipLevel?: number;
  /** Codec for 'compress': gzip (default) or zstd at ZSTD_LEVEL (POSTMORTEM_COMPRESSION; the caller checked the runtime has it). */
  compression?: Compression;
  metadata?: Record<string, string>;
  /**
   * Asked once the source has ended: is what was read the whole thing? A heap dump the JVM
   * said is incomplete, or whose writer died mid-way, is stored but never called complete.
   */
  completeness?: () => Completeness | undefined | Promise<Completeness | undefined>;
  /** Sees the content (uncompressed) as it streams, e.g. the heap histogram (issue 13). Must not throw. */
  observe?: ContentObserver;
  /**
   * Called with a source chunk once nothing in the pass refers to it any more, so the source
   * may read into it again: for 'compress' once the compressor copied it into its blocks, for
   * 'raw' once the store copied it into a part or wrote it, for 'already-gzip' once the store
   * has it and the gunzip that hashes the content on the side has decoded it.
   */
  release?: (chunk: Buffer) => void;
}

export interface Completeness {
  complete: boolean;
  /** Why not, in words for the report and the log. */
  reason?: string;
}

export interface ArtifactRecord {
  name: string;
  key: string;
  location: string;
  /** Content bytes, uncompressed. */
  size: number;
  /** sha256 of the content, uncompressed; '' when it could not be computed (see contentError). */
  sha256: string;
  storedSize: number;
  storedSha256: string;
  /** 'gzip' or 'zstd' when the stored bytes are compressed (stored without a Content-Encoding header). */
  contentEncoding?: Compression;
  verified: boolean;
  unverifiedReason?: string;
  /** Why size/sha256 of the content are incomplete, e.g. a truncated .hprof.gz. */
  contentError?: string;
  /** false: the stored bytes are what was there, but the evidence itself is cut short. */
  complete: boolean;
  incompleteReason?: string;
  durationMs: number;
  /** Whether the hashes were attached as object tags (S3 stores only). */
  tagged?: boolean;
}

export interface StoreOptions extends RequestLimits {
  onProgress?: (p: { contentBytes: number; storedBytes: number }) => void;
  /** Clock for durationMs, in milliseconds. */
  now?: () => number;
}

/** S3 metadata travels as HTTP headers: printable ASCII only. */
function asciiMetadata(metadata: Record<string, string>): Record<string, string> {
  const clean: Record<string, string> = {};
  for (const [name, value] of Object.entries(metadata)) {
    clean[name.toLowerCase().replace(/[^a-z0-9-]/g, '-')] = value.replace(/[^\x20-\x7e]/g, '?');
  }
  return clean;
}

interface Plan {
  name: string;
  taps: Transform[];
  content: { digest(): Digest };
  stored: HashTap;
  storedType: string;
  /** How the stored bytes are compressed; undefined: they are the content. */
  encoding: Compression | undefined;
}

function plan(spec: ArtifactSpec, progress: (content: number | undefined, stored: number) => void): Plan {
  const level = spec.gzipLevel ?? DEFAULT_GZIP_LEVEL;
  if (!Number.isInteger(level) || level < 0 || level > 9) {
    throw new TypeError(`gzipLevel for ${spec.name} must be an integer 0-9, got ${String(spec.gzipLevel)}`);
  }
  let contentBytes = 0;
  switch (spec.encoding === 'compress' && level === 0 ? 'raw' : spec.encoding) {
    case 'raw': {
      // The source's chunks go to the store as they are; with `release` each goes back to the
      // source once the store has it, and the next read goes into it (no garbage per read).
      const stored = new HashTap((n) => progress(n, n), spec.observe, spec.release ? { lendTo: spec.release } : {});
      return { name: spec.name, taps: [stored], content: stored, stored, storedType: spec.contentType, encoding: undefined };
    }
    case 'compress': {
      // Progress on content as well: a block's compressed bytes come out only once it is full.
      // Last before the store: passes the compressor's pieces on one by one, so the writer can give them back.
      const stored = new HashTap((n) => progress(contentBytes, n), undefined, { keepPieces: true });
      const content = new HashTap((n) => progress((contentBytes = n), stored.bytes), spec.observe);
      const codec = codecOf(spec.compression ?? 'gzip');
      const name = spec.name.endsWith(codec.extension) ? spec.name : `${spec.name}${codec.extension}`;
      const compressor = new ParallelCompress({ codec: codec.name, level: codec.name === 'zstd' ? ZSTD_LEVEL : level, ...(spec.release ? { consumed: spec.release } : {}) });
      return { name, taps: [content, compressor, stored], content, stored, storedType: codec.storedType, encoding: codec.name };
    }
    case 'already-gzip': {
      const stored = new HashTap((n) => progress(undefined, n));
      const content = new GunzipHashTap((n) => progress(n, stored.bytes), spec.observe, spec.release ? { lendTo: spec.release } : {});
      return { name: spec.name, taps: [stored, content], content, stored, storedType: codecOf('gzip').storedType, encoding: 'gzip' };
    }
  }
}

/** Streams one artifact into the store; resolves once stored (and verified where allowed). */
export async function storeArtifact(
  store: Store,
  crashPrefixKey: string,
  spec: ArtifactSpec,
  opts: StoreOptions = {},
): Promise<ArtifactRecord> {
  const now = opts.now ?? Date.now;
  const started = now();
  let contentBytes = 0;
  let storedBytes = 0;
  const p = plan(spec, (content, stored) => {
    if (content !== undefined) contentBytes = content;
    storedBytes = stored;
    opts.onProgress?.({ contentBytes, storedBytes });
  });
  const key = artifactKey(crashPrefixKey, p.name);
  const metadata = asciiMetadata({
    ...spec.metadata,
    'content-type-decoded': spec.contentType,
    'stored-encoding': p.encoding ?? 'identity',
    'sha256-in': reportKey(crashPrefixKey),
  });

  const put = await transfer(store, spec.source, p.taps, { key, contentType: p.storedType, metadata, signal: opts.signal, timeoutMs: opts.timeoutMs }, p.name);
  const stored = p.stored.digest();
  const content = p.content.digest();
  checkStoredBytes(put, stored.bytes, key);
  const incomplete = incompleteness(await spec.completeness?.(), content.error);
  // The hashes exist only now; metadata went out with the first byte. Tags carry them (best
  // effort: s3:PutObjectTagging may not be granted; report.json always has them).
  const tagging = await store.tag?.(key, { sha256: content.sha256 || 'unknown', 'stored-sha256': stored.sha256 }, { signal: opts.signal, timeoutMs: opts.timeoutMs });
  return {
    name: p.name,
    ...(tagging ? { tagged: tagging.tagged } : {}),
    key,
    location: put.location,
    size: content.bytes,
    sha256: content.sha256,
    storedSize: stored.bytes,
    storedSha256: stored.sha256,
    ...(p.encoding ? { contentEncoding: p.encoding } : {}),
    verified: put.verified,
    ...(put.unverifiedReason !== undefined ? { unverifiedReason: put.unverifiedReason } : {}),
    ...(content.error !== undefined ? { contentError: content.error } : {}),
    complete: incomplete === undefined,
    ...(incomplete !== undefined ? { incompleteReason: incomplete } : {}),
    durationMs: now() - started,
  };
}

/** Every known reason the content is not whole, or undefined when none is known. */
function incompleteness(verdict: Completeness | undefined, contentError: string | undefined): string | undefined {
  const reasons = [
    ...(verdict?.complete === false ? [verdict.reason ?? 'its writer did not finish it'] : []),
    ...(contentError !== undefined ? [`the stored gzip stream is cut short (${contentError})`] : []),
  ];
  return reasons.length > 0 ? reasons.join('; ') : undefined;
}

/**
 * Runs source → taps and store.put(last tap) together. Whichever side fails first stops the
 * other: a failed put destroys the taps (and so the source), a failed source destroys the
 * body the store reads, so the store aborts its upload instead of completing a short object.
 */
async function transfer(
  store: Store,
  source: Readable | Iterable<Buffer> | AsyncIterable<Buffer>,
  taps: Transform[],
  request: { key: string; contentType: string; metadata: Record<string, string>; signal: AbortSignal | undefined; timeoutMs: number | undefined },
  name: string,
): Promise<PutResult> {
  const body = taps[taps.length - 1] as Transform;
  const readable = source instanceof Readable ? source : Readable.from(source, { objectMode: false });
  const piped = pipeline([readable, ...taps], request.signal ? { signal: request.signal } : {});
  const put = store.put({
    key: request.key,
    body,
    contentType: request.contentType,
    metadata: request.metadata,
    ...(request.signal ? { signal: request.signal } : {}),
    ...(request.timeoutMs !== undefined ? { timeoutMs: request.timeoutMs } : {}),
  });
  // Which side failed first is the root cause; the other side's error is its consequence.
  let firstFailure: 'put' | 'pipe' | undefined;
  put.catch(() => { firstFailure ??= 'put'; });
  piped.catch(() => { firstFailure ??= 'pipe'; });
  const [putOutcome, pipeOutcome] = await Promise.allSettled([
    put.then(
      (result) => {
        // A store that resolves without reading everything would leave the pipeline hanging.
        if (body.readableEnded) return result;
        const error = new StoreError(`store finished ${request.key} before reading all of it`);
        body.destroy(error);
        throw error;
      },
      (error: unknown) => {
        body.destroy();
        throw error;
      },
    ),
    piped,
  ]);
  if (request.signal?.aborted && (putOutcome.status === 'rejected' || pipeOutcome.status === 'rejected')) {
    throw new StoreError(`storing ${request.key} was aborted (${messageOf(request.signal.reason)}); the upload was abandoned`, {
      cause: request.signal.reason,
    });
  }
  const putError = putOutcome.status === 'rejected' ? (putOutcome.reason as unknown) : undefined;
  if (pipeOutcome.status === 'rejected' && firstFailure !== 'put' && !isPrematureClose(pipeOutcome.reason) && pipeOutcome.reason !== putError) {
    // The source (or a tap) failed: that is the root cause, even when the store reports a
    // different error for the upload it then had to abandon.
    const secondary = putOutcome.status === 'rejected' ? `; the upload was abandoned (${messageOf(putOutcome.reason)})` : '';
    throw new StoreError(`reading ${name} for ${request.key} failed: ${messageOf(pipeOutcome.reason)}${secondary}`, {
      cause: pipeOutcome.reason,
    });
  }
  if (putOutcome.status === 'rejected') throw putOutcome.reason;
  if (pipeOutcome.status === 'rejected') throw pipeOutcome.reason;
  return putOutcome.value;
}

function checkStoredBytes(put: PutResult, expected: number, key: string): void {
  if (put.storedBytes !== expected) {
    throw new StoreError(`store took ${put.storedBytes} bytes of ${key} but ${expected} were sent`);
  }
}

/** Errors a stream gets because the other side stopped it: a consequence, never the cause. */
function isPrematureClose(error: unknown): boolean {
  const e = error as { code?: unknown; name?: unknown } | undefined;
  return e?.code === 'ERR_STREAM_PREMATURE_CLOSE' || e?.code === 'ABORT_ERR' || e?.name === 'AbortError';
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

export interface BytesOptions extends RequestLimits {
  contentType: string;
  metadata?: Record<string, string>;
  now?: () => number;
}

/** Small in-memory content (log tail, report): hashed first, so `sha256` goes in the metadata. */
export async function storeBytes(store: Store, key: string, data: string | Uint8Array, opts: BytesOptions): Promise<ArtifactRecord> {
  const now = opts.now ?? Date.now;
  const started = now();
  const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  const tap = new HashTap();
  const metadata = asciiMetadata({ ...opts.metadata, sha256, 'stored-encoding': 'identity' });
  const put = await transfer(store, [bytes], [tap], { key, contentType: opts.contentType, metadata, signal: opts.signal, timeoutMs: opts.timeoutMs }, key);
  checkStoredBytes(put, bytes.length, key);
  return {
    name: key.slice(key.lastIndexOf('/') + 1),
    key,
    location: put.location,
    size: bytes.length,
    sha256,
    storedSize: bytes.length,
    storedSha256: sha256,
    complete: true,
    verified: put.verified,
    ...(put.unverifiedReason !== undefined ? { unverifiedReason: put.unverifiedReason } : {}),
    durationMs: now() - started,
  };
}

/** report.json and other JSON documents: pretty-printed, newline-terminated. */
export function storeJson(store: Store, key: string, value: unknown, opts: Omit<BytesOptions, 'contentType'> = {}): Promise<ArtifactRecord> {
  return storeBytes(store, key, `${JSON.stringify(value, null, 2)}\n`, { ...opts, contentType: 'application/json' });
}
