// Store on any S3-compatible service (AWS, Ceph RGW, MinIO, …): multipart uploads from a
// fixed pool of `queueSize` part buffers of `partSize` bytes shared by all uploads of this
// store (multipart-writer.ts), which is the whole memory cost of uploading; a failed upload
// is aborted so no parts are left behind.
import {
  GetObjectCommand,
  HeadObjectCommand,
  PutObjectTaggingCommand,
  S3Client,
  paginateListObjectsV2,
  type PutObjectCommandInput,
  type S3ClientConfig,
} from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { Readable } from 'node:stream';
import type { S3Target } from '../config/types.ts';
import type { EventLog } from '../util/event-log.ts';
import { explicitCredentials } from './s3-credentials.ts'; // issue 11B
import { writeObject, type ObjectParams } from './multipart-writer.ts';
import { PartPool } from './part-pool.ts';
import { endpointLabel, httpStatusOf, isNotFound, s3StoreError } from './s3-errors.ts';
import type { PutRequest, PutResult, RequestLimits, Store, StoredObject } from './store.ts';

export interface S3StoreOptions {
  /** Multipart part size in bytes (S3 minimum 5 MiB). */
  partSize: number;
  /** Part buffers of this store (parts in flight); upload memory = partSize × queueSize. */
  queueSize: number;
  /** The part buffers to use (size partSize, count queueSize); default a new pool. Tests pass one to watch it. */
  pool?: PartPool;
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
    // The SDK sends bodies of 2 MiB and more with `Expect: 100-continue`, and for those opens
    // a fresh connection without keep-alive (node-http-handler): every part paid a TCP connect,
    // a round trip waiting for "100 Continue" and a teardown, on both sides (bench/README.md,
    // "Upload alone"). Off, parts go over the agent's pooled keep-alive sockets; what the
    // header would save is the body of a request the server refuses, a failure case only.
    expectContinueHeader: false,
  };
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

  if (opts.pool && (opts.pool.size !== opts.partSize || opts.pool.count !== opts.queueSize)) {
    throw new TypeError(`the part pool (${opts.pool.count} × ${opts.pool.size} bytes) does not match queueSize ${opts.queueSize} × partSize ${opts.partSize}`);
  }
  const pool = opts.pool ?? new PartPool(opts.partSize, opts.queueSize);

  async function put(request: PutRequest): Promise<PutResult> {
    const params: ObjectParams = {
      Bucket: target.bucket,
      Key: request.key,
      ContentType: request.contentType,
      ...(request.contentEncoding ? { ContentEncoding: request.contentEncoding } : {}),
      ...(request.metadata ? { Metadata: request.metadata } : {}),
      ...(target.serverSideEncryption ? { ServerSideEncryption: target.serverSideEncryption } : {}),
      ...(target.kmsKeyId ? { SSEKMSKeyId: target.kmsKeyId } : {}),
      ...(target.storageClass ? { StorageClass: target.storageClass as PutObjectCommandInput['StorageClass'] } : {}),
      ...(target.acl ? { ACL: target.acl as PutObjectCommandInput['ACL'] } : {}),
    };
    let storedBytes: number;
    try {
      if (request.signal?.aborted) throw Object.assign(new Error('aborted before the upload started'), { name: 'AbortError' });
      // RGW's CompleteMultipartUpload returns an empty ETag: the result is not used.
      storedBytes = await writeObject({
        client, pool, params, body: request.body,
        ...(request.signal ? { signal: request.signal } : {}),
        ...(request.timeoutMs !== undefined ? { requestTimeoutMs: request.timeoutMs } : {}),
        ...(request.onProgress ? { onProgress: request.onProgress } : {}),
      });
    } catch (error) {
      request.body.destroy();
      throw fail('upload', request.key, error);
    }
    return { location: locationOf(request.key), storedBytes, ...(await verifySize(request.key, storedBytes, request)) };
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
