// Store on any S3-compatible service (AWS, Ceph RGW, MinIO, …) through lib-storage's
// Upload: multipart with `queueSize` parts of `partSize` bytes in flight, which is the whole
// memory cost; a failed upload is aborted so no parts are left behind.
import {
  AbortMultipartUploadCommand,
  GetObjectCommand,
  HeadObjectCommand,
  PutObjectTaggingCommand,
  S3Client,
  paginateListObjectsV2,
  type PutObjectCommandInput,
  type S3ClientConfig,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { Readable, Transform, pipeline, type TransformCallback } from 'node:stream';
import type { S3Target } from '../config/types.ts';
import type { EventLog } from '../util/event-log.ts';
import { explicitCredentials } from './s3-credentials.ts'; // issue 11B
import { endpointLabel, httpStatusOf, isNotFound, s3StoreError } from './s3-errors.ts';
import type { PutRequest, PutResult, RequestLimits, Store, StoredObject } from './store.ts';

export interface S3StoreOptions {
  /** Multipart part size in bytes (S3 minimum 5 MiB). */
  partSize: number;
  /** Parts uploaded in parallel; memory ≈ partSize × queueSize. */
  queueSize: number;
  /** Attempts per request, including the first, by the SDK's standard retry strategy. Default 5. */
  maxAttempts?: number;
  log?: EventLog;
}

export const DEFAULT_MAX_ATTEMPTS = 5;
/**
 * The watchdog's uploads: the caller's deadline ends retries, not their count. With the SDK's
 * backoff (capped at 20 s) ten attempts ride out a store that is gone for about a minute.
 */
export const DEADLINE_BOUND_MAX_ATTEMPTS = 10;
/** No byte from the store for this long: the request failed (and may be retried). */
const SILENT_STORE_MS = 30_000;
/** Time given to AbortMultipartUpload after an upload was abandoned (its deadline has passed). */
export const ABORT_MULTIPART_MS = 1500;
const MIN_PART_SIZE = 5 * 1024 * 1024;

/** The client settings; exported so tests can prove what they change on a real server. */
export function s3ClientConfig(target: S3Target, maxAttempts = DEFAULT_MAX_ATTEMPTS): S3ClientConfig {
  return {
    region: target.region,
    ...(target.endpoint ? { endpoint: target.endpoint } : {}),
    forcePathStyle: target.forcePathStyle,
    // issue 11B: always explicit, never the SDK's default chain (s3-credentials.ts).
    credentials: explicitCredentials(target),
    // The SDK's default (WHEN_SUPPORTED) sends streamed bodies with aws-chunked framing and a
    // CRC32 trailer: Ceph RGW answers 411, s3rver answers 200 and stores the framing inside
    // the object. Checksums only when an operation requires them keeps plain bodies; our
    // integrity check is the sha256 in the report. Response validation is matched so that
    // GETs do not ask for checksums some S3-compatible servers cannot give.
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    // Retries are the SDK's (backoff, 5xx/throttling/timeouts only), not a loop of ours.
    retryMode: 'standard',
    maxAttempts,
    // A blocked egress (missing ASG) otherwise hangs for minutes in TCP connect; a store that
    // accepts and then says nothing is given up after SILENT_STORE_MS of silence. Per-call
    // limits (the caller's deadline) come on top: an abort signal and a request timeout.
    requestHandler: { connectionTimeout: 10_000, socketTimeout: SILENT_STORE_MS, throwOnRequestTimeout: true },
  };
}

/** Counts what the uploader actually read, independent of the SDK's progress events. */
class ByteCounter extends Transform {
  bytes = 0;
  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.bytes += chunk.length;
    callback(null, chunk);
  }
}

/**
 * Part buffers are freed only when V8 collects their wrappers, which it does late (external
 * memory counts little towards its heuristics): on a 1 GiB upload that doubled peak RSS. When
 * the runtime exposes gc() (the watchdog runs with --expose-gc) we collect every few parts.
 */
const GC_EVERY_PARTS = 1;
function collectGarbage(): void {
  (globalThis as { gc?: () => void }).gc?.();
}

export function createS3Store(target: S3Target, opts: S3StoreOptions): Store {
  if (!Number.isInteger(opts.partSize) || opts.partSize < MIN_PART_SIZE) {
    throw new TypeError(`partSize must be an integer of at least ${MIN_PART_SIZE} bytes (5 MiB), got ${opts.partSize}`);
  }
  if (!Number.isInteger(opts.queueSize) || opts.queueSize < 1) {
    throw new TypeError(`queueSize must be a positive integer, got ${opts.queueSize}`);
  }
  const client = new S3Client(s3ClientConfig(target, opts.maxAttempts));
  const locationOf = (key: string): string => `s3://${target.bucket}/${key}`;
  const fail = (operation: string, key: string | undefined, error: unknown) => s3StoreError(operation, target, key, error);

  async function put(request: PutRequest): Promise<PutResult> {
    const counter = new ByteCounter();
    // pipeline, not pipe: a body that fails or closes early must fail the upload (never
    // complete a short object), and an upload that stops reading must release the body.
    pipeline(request.body, counter, () => {});
    const params: PutObjectCommandInput = {
      Bucket: target.bucket,
      Key: request.key,
      Body: counter,
      ContentType: request.contentType,
      ...(request.contentEncoding ? { ContentEncoding: request.contentEncoding } : {}),
      ...(request.metadata ? { Metadata: request.metadata } : {}),
      ...(target.serverSideEncryption ? { ServerSideEncryption: target.serverSideEncryption } : {}),
      ...(target.kmsKeyId ? { SSEKMSKeyId: target.kmsKeyId } : {}),
      ...(target.storageClass ? { StorageClass: target.storageClass as PutObjectCommandInput['StorageClass'] } : {}),
      ...(target.acl ? { ACL: target.acl as PutObjectCommandInput['ACL'] } : {}),
    };
    const abortController = new AbortController();
    const upload = new Upload({
      client,
      params,
      partSize: opts.partSize,
      queueSize: opts.queueSize,
      leavePartsOnError: false,
      abortController,
    });
    let sinceCollect = 0;
    upload.on('httpUploadProgress', (p) => {
      request.onProgress?.(p.loaded ?? 0);
      sinceCollect += 1;
      if (sinceCollect >= GC_EVERY_PARTS) { sinceCollect = 0; collectGarbage(); }
    });
    const onAbort = () => abortController.abort(request.signal?.reason);
    request.signal?.addEventListener('abort', onAbort, { once: true });
    try {
      if (request.signal?.aborted) throw Object.assign(new Error('aborted before the upload started'), { name: 'AbortError' });
      // RGW's CompleteMultipartUpload returns an empty ETag: the result is not used.
      await upload.done();
    } catch (error) {
      counter.destroy();
      // A failed upload was aborted by lib-storage before done() rejected; an abandoned one
      // (our signal) was not, and may never be before the process is gone.
      const abandoned = abortController.signal.aborted;
      const leftover = abandoned ? await abortMultipart(request.key, upload.uploadId) : undefined;
      const failure = fail('upload', request.key, error);
      if (leftover) failure.message += `; ${leftover}`;
      throw failure;
    } finally {
      request.signal?.removeEventListener('abort', onAbort);
    }
    return { location: locationOf(request.key), storedBytes: counter.bytes, ...(await verifySize(request.key, counter.bytes, request)) };
  }

  /**
   * lib-storage aborts a failed multipart upload itself, but only after its parts settled and
   * with no time limit, and an abandoned upload (our deadline) may never get there before the
   * process is gone. So we send AbortMultipartUpload at once, bounded. Returns a note when the
   * parts may be left behind.
   */
  async function abortMultipart(key: string, uploadId: string | undefined): Promise<string | undefined> {
    if (!uploadId) return undefined;
    try {
      await client.send(
        new AbortMultipartUploadCommand({ Bucket: target.bucket, Key: key, UploadId: uploadId }),
        { abortSignal: AbortSignal.timeout(ABORT_MULTIPART_MS), requestTimeout: ABORT_MULTIPART_MS },
      );
      return undefined;
    } catch (error) {
      if (httpStatusOf(error) === 404) return undefined; // already aborted by lib-storage
      return `its multipart upload ${uploadId} could not be aborted (${fail('abort', key, error).message}); a bucket lifecycle rule for incomplete uploads removes its parts`;
    }
  }

  /** Per-call options for the SDK: the caller's abort signal and request timeout. */
  function callOptions(limits: RequestLimits | undefined): { abortSignal?: AbortSignal; requestTimeout?: number } {
    return {
      ...(limits?.signal ? { abortSignal: limits.signal } : {}),
      ...(limits?.timeoutMs !== undefined ? { requestTimeout: Math.max(1, Math.round(limits.timeoutMs)) } : {}),
    };
  }

  /** HEAD after upload; a write-only policy (403) leaves the object unverified, not failed. */
  async function verifySize(key: string, expected: number, limits: RequestLimits): Promise<Pick<PutResult, 'verified' | 'unverifiedReason'>> {
    let size: number | undefined;
    try {
      const head = await client.send(new HeadObjectCommand({ Bucket: target.bucket, Key: key }), callOptions(limits));
      size = head.ContentLength;
    } catch (error) {
      const status = httpStatusOf(error);
      const reason =
        status === 403
          ? 'HeadObject is forbidden (HTTP 403, write-only credentials): stored size not confirmed'
          : `HeadObject failed (${fail('verify', key, error).message})`;
      opts.log?.warn(`${locationOf(key)} uploaded but not verified: ${reason}`);
      return { verified: false, unverifiedReason: reason };
    }
    if (size !== expected) {
      throw fail('verify', key, new Error(`stored object has ${String(size)} bytes, ${expected} were uploaded`));
    }
    return { verified: true };
  }

  async function* list(prefix: string): AsyncIterable<StoredObject> {
    try {
      for await (const page of paginateListObjectsV2({ client }, { Bucket: target.bucket, Prefix: prefix })) {
        for (const item of page.Contents ?? []) {
          if (item.Key === undefined) continue;
          yield { key: item.Key, size: item.Size ?? 0, ...(item.LastModified ? { lastModified: item.LastModified } : {}) };
        }
      }
    } catch (error) {
      throw fail('list', prefix, error);
    }
  }

  async function get(key: string): Promise<Readable> {
    try {
      const result = await client.send(new GetObjectCommand({ Bucket: target.bucket, Key: key }));
      // In Node the body is an http.IncomingMessage (a Readable) with SDK helpers mixed in.
      if (!(result.Body instanceof Readable)) throw new Error('GetObject returned no stream body');
      return result.Body;
    } catch (error) {
      throw fail('get', key, error);
    }
  }

  async function head(key: string, limits?: RequestLimits): Promise<{ size: number; metadata: Record<string, string> } | undefined> {
    try {
      const result = await client.send(new HeadObjectCommand({ Bucket: target.bucket, Key: key }), callOptions(limits));
      return { size: result.ContentLength ?? 0, metadata: result.Metadata ?? {} };
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw fail('head', key, error);
    }
  }

  async function url(key: string, expiresInSeconds: number): Promise<string> {
    try {
      return await getSignedUrl(client, new GetObjectCommand({ Bucket: target.bucket, Key: key }), { expiresIn: expiresInSeconds });
    } catch (error) {
      throw fail('presign', key, error);
    }
  }

  async function tag(key: string, tags: Record<string, string>, limits?: RequestLimits): Promise<{ tagged: boolean; reason?: string }> {
    try {
      await client.send(new PutObjectTaggingCommand({
        Bucket: target.bucket,
        Key: key,
        Tagging: { TagSet: Object.entries(tags).map(([Key, Value]) => ({ Key, Value })) },
      }), callOptions(limits));
      return { tagged: true };
    } catch (error) {
      return { tagged: false, reason: fail('tag', key, error).message };
    }
  }

  return {
    description: `s3://${target.bucket}${target.prefix ? `/${target.prefix}` : ''} at ${endpointLabel(target)}`,
    locationOf,
    put,
    list,
    get,
    head,
    tag,
    url,
    close: () => client.destroy(),
  };
}
