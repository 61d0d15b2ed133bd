// Streams one body into S3 with buffers from a fixed PartPool, following lib-storage's
// lifecycle (a body smaller than one part is a single PutObject; otherwise create the upload
// once, send parts while the next fills, complete with the parts sorted, abort on any
// failure) but filling the pool's buffers in place instead of allocating a Buffer per part.
// Memory: the pool (partSize × queueSize), whatever the artifact's size.
//
// Over https, parts are sent with an unsigned payload (`x-amz-content-sha256: UNSIGNED-PAYLOAD`),
// as awscli does: SigV4 otherwise hashes every part body with sha256 before sending it, a
// second full sha256 pass over the artifact (~0.8 CPU s/GiB here) on top of the content hash
// the pipeline takes anyway, and TLS already protects each part in transit. Over plain http
// the signed payload hash is the only thing that lets the server refuse a part damaged on the
// way, so there parts stay signed (awscli signs them there too). Either way report.json
// carries the content and stored sha256 and `postmortem get` checks downloads against them.
//
// Over http the part's sha256 is taken here, piece by piece as the part fills, while each piece
// is still in the CPU's cache from the taps that just read it, and handed to the signer in the
// header (it takes a hash found there as is). Left to the signer, it reads the whole 8 MiB part
// again once it is full, from memory: 0.94 CPU s/GiB against 0.61 for the same hash on cached
// pieces (bench/README.md, "Tenth session").
import { createHash, type Hash } from 'node:crypto';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  PutObjectCommand,
  UploadPartCommand,
  type CompletedPart,
  type PutObjectCommandInput,
  type S3Client,
} from '@aws-sdk/client-s3';
import type { Readable } from 'node:stream';
import type { PartPool } from './part-pool.ts';
import { giveBack } from './output-slabs.ts';

/** S3's limit on parts per upload. */
export const MAX_PARTS = 10_000;
/** Time given to AbortMultipartUpload once an upload failed or was abandoned (its deadline may have passed). */
export const ABORT_MULTIPART_MS = 1500;

export type ObjectParams = Omit<PutObjectCommandInput, 'Body' | 'ContentLength'> & { Bucket: string; Key: string };

export interface WriteRequest {
  client: S3Client;
  pool: PartPool;
  params: ObjectParams;
  body: Readable;
  signal?: AbortSignal;
  /** Bound on each request (a part, create, complete), derived from the caller's time left. */
  requestTimeoutMs?: number;
  /** Bytes the server has confirmed so far. */
  onProgress?: (storedBytes: number) => void;
}

/** Resolves with the number of bytes read from the body, once the object is complete. */
export async function writeObject(request: WriteRequest): Promise<number> {
  const { client, pool, params, signal } = request;
  const sendOptions = {
    ...(signal ? { abortSignal: signal } : {}),
    ...(request.requestTimeoutMs !== undefined ? { requestTimeout: Math.max(1, Math.round(request.requestTimeoutMs)) } : {}),
  };
  const partSize = pool.size;
  let uploadId: string | undefined;
  let failure: unknown;
  let read = 0;
  let confirmed = 0;
  const parts: CompletedPart[] = [];
  const inFlight = new Set<Promise<void>>();

  const sendPart = async (buffer: Buffer, length: number, partNumber: number, sha256?: string): Promise<void> => {
    try {
      const result = await client.send(partPayload(new UploadPartCommand({
        Bucket: params.Bucket, Key: params.Key, UploadId: uploadId, PartNumber: partNumber,
        Body: buffer.subarray(0, length), ContentLength: length,
      }), sha256), sendOptions);
      parts.push({ PartNumber: partNumber, ETag: result.ETag });
      confirmed += length;
      request.onProgress?.(confirmed);
    } catch (error) {
      failure ??= error;
    } finally {
      // Only now: the request no longer reads from the buffer (retries included).
      pool.release(buffer);
    }
  };

  // Over http only: the part's sha256 as it fills (see the top of this file).
  const hashParts = await signsPayloads(client);
  let partHash: Hash | undefined = hashParts ? createHash('sha256') : undefined;
  let buffer: Buffer | undefined = await pool.acquire(signal);
  let filled = 0;
  let partNumber = 0;
  try {
    for await (const chunk of request.body as AsyncIterable<Buffer>) {
      let offset = 0;
      while (offset < chunk.length) {
        if (failure !== undefined) throw failure;
        if (!buffer) { buffer = await pool.acquire(signal); filled = 0; }
        const copied = chunk.copy(buffer, filled, offset);
        partHash?.update(copied === chunk.length ? chunk : chunk.subarray(offset, offset + copied));
        filled += copied;
        offset += copied;
        read += copied;
        if (filled === partSize) {
          if (partNumber === MAX_PARTS) throw new Error(`more than ${MAX_PARTS} parts of ${partSize} bytes: raise POSTMORTEM_PART_SIZE`);
          uploadId ??= (await client.send(new CreateMultipartUploadCommand(params), sendOptions)).UploadId;
          if (!uploadId) throw new Error('CreateMultipartUpload returned no UploadId');
          partNumber += 1;
          const sent = sendPart(buffer, filled, partNumber, partHash?.digest('hex'));
          if (hashParts) partHash = createHash('sha256');
          inFlight.add(sent);
          void sent.finally(() => inFlight.delete(sent));
          buffer = undefined;
        }
      }
      giveBack(chunk); // all of it is in a part now: the compressor may write into it again
    }
    if (uploadId === undefined) {
      // All of it fits in one part: one request, like lib-storage.
      const body = buffer!.subarray(0, filled);
      await client.send(new PutObjectCommand({ ...params, Body: body, ContentLength: filled }), sendOptions);
      request.onProgress?.(filled);
      return read;
    }
    if (buffer && filled > 0) {
      partNumber += 1;
      const last = sendPart(buffer, filled, partNumber, partHash?.digest('hex'));
      buffer = undefined;
      inFlight.add(last);
    }
    await Promise.all(inFlight);
    if (failure !== undefined) throw failure;
    parts.sort((a, b) => (a.PartNumber ?? 0) - (b.PartNumber ?? 0));
    await client.send(new CompleteMultipartUploadCommand({
      Bucket: params.Bucket, Key: params.Key, UploadId: uploadId, MultipartUpload: { Parts: parts },
    }), sendOptions);
    return read;
  } catch (error) {
    request.body.destroy();
    // Parts still in flight hold pool buffers: wait for them before leaving.
    await Promise.allSettled(inFlight);
    // Bounded by a signal of its own: the caller's may be what ended the upload.
    const leftBehind = uploadId === undefined ? undefined : await client.send(
      new AbortMultipartUploadCommand({ Bucket: params.Bucket, Key: params.Key, UploadId: uploadId }),
      { abortSignal: AbortSignal.timeout(ABORT_MULTIPART_MS), requestTimeout: ABORT_MULTIPART_MS },
    ).then(() => undefined, (abortError: unknown) => (abortError as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode === 404
      ? undefined
      : `its multipart upload ${uploadId} could not be aborted (${abortError instanceof Error ? abortError.message : String(abortError)}); a bucket lifecycle rule for incomplete uploads removes its parts`);
    const thrown = failure ?? error;
    if (leftBehind && thrown instanceof Error) thrown.message += `; ${leftBehind}`;
    throw thrown;
  } finally {
    if (buffer) pool.release(buffer);
  }
}

/**
 * What the part's `x-amz-content-sha256` says: UNSIGNED-PAYLOAD over https; over http the
 * part's sha256 when it was taken while filling (the signer uses a hash found in the headers
 * as is), else nothing and the signer hashes the body itself.
 */
export function partPayload<C extends UploadPartCommand>(command: C, sha256?: string): C {
  command.middlewareStack.add((next) => (args) => {
    const request = args.request as { protocol?: string; headers?: Record<string, string> };
    if (request.headers) {
      if (request.protocol === 'https:') request.headers['x-amz-content-sha256'] = 'UNSIGNED-PAYLOAD';
      else if (sha256 !== undefined) request.headers['x-amz-content-sha256'] = sha256;
    }
    return next(args);
  }, { step: 'build', name: 'postmortemPartPayload' });
  return command;
}

/**
 * Whether parts go over plain http (their payloads signed): only with an endpoint setting that
 * says http://; AWS's own endpoints, resolved per request, are https.
 */
export async function signsPayloads(client: S3Client): Promise<boolean> {
  const endpoint = client.config.endpoint ? await client.config.endpoint() : undefined;
  return endpoint?.protocol === 'http:';
}
