// Turns SDK and network failures into StoreErrors that say what failed, where, and what to
// check next. Messages name bucket, key and endpoint, never credentials.
import type { S3Target } from '../config/types.ts';
import { StoreError } from './store.ts';

interface SdkErrorShape {
  name?: string;
  code?: string;
  message?: string;
  $metadata?: { httpStatusCode?: number };
}

const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'EPIPE']);

/** Where the store is, without any user:password an endpoint URL might carry. */
export function endpointLabel(target: S3Target): string {
  if (!target.endpoint) return `AWS S3 (${target.region})`;
  try {
    const url = new URL(target.endpoint);
    return `${url.protocol}//${url.host}`;
  } catch {
    return 'the configured endpoint (not a valid URL)';
  }
}

export function httpStatusOf(error: unknown): number | undefined {
  return (error as SdkErrorShape | undefined)?.$metadata?.httpStatusCode;
}

/** The SDK gives HEAD errors names like 'NotFound' from the status alone (no body). */
export function isNotFound(error: unknown): boolean {
  const e = error as SdkErrorShape | undefined;
  return httpStatusOf(error) === 404 || e?.name === 'NotFound' || e?.name === 'NoSuchKey';
}

function hintFor(error: SdkErrorShape, target: S3Target): string {
  const status = error.$metadata?.httpStatusCode;
  const name = error.name ?? '';
  const where = endpointLabel(target);
  if (name === 'AbortError') {
    return 'The upload was stopped before it finished (deadline or shutdown), so no object was completed.';
  }
  if (name === 'NoSuchBucket') {
    return `Bucket "${target.bucket}" does not exist at ${where}: create it, or fix the bucket name in ${target.source}.`;
  }
  // Ceph RGW answers an unknown KMS key id with 403 InvalidAccessKeyId "Failed to retrieve
  // the actual key, kms-keyid: …": that is the key id, not the credentials.
  if (target.kmsKeyId !== undefined && /kms-keyid|retrieve the actual key/i.test(String((error as { message?: unknown }).message ?? ''))) {
    return `The KMS key "${target.kmsKeyId}" (POSTMORTEM_SSE_KMS_KEY_ID) is unknown to the store at ${where}: check the key id.`;
  }
  if (['InvalidAccessKeyId', 'SignatureDoesNotMatch', 'ExpiredToken', 'InvalidToken'].includes(name)) {
    return `The credentials in ${target.source} were rejected: check the access key and secret.`;
  }
  if (status === 403 || name === 'AccessDenied' || name === 'Forbidden') {
    return `Access denied: check that the credentials in ${target.source} allow s3:PutObject (and multipart upload) on ${target.bucket}/${target.prefix ? `${target.prefix}/` : ''}*, and any KMS key or bucket policy.`;
  }
  if (status === 301 || name === 'PermanentRedirect' || name === 'AuthorizationHeaderMalformed') {
    return `The bucket is in another region than "${target.region}": set the region in ${target.source}.`;
  }
  if (name === 'TimeoutError' || (error.code !== undefined && NETWORK_CODES.has(error.code))) {
    return `Cannot reach ${where}: check that an application security group (ASG) allows egress to it, DNS, and any proxy.`;
  }
  if (status !== undefined && status >= 500) {
    return `The store at ${where} had a server error; the SDK already retried.`;
  }
  return `Check the endpoint, bucket and credentials in ${target.source}.`;
}

export function s3StoreError(operation: string, target: S3Target, key: string | undefined, error: unknown): StoreError {
  const e = (error ?? {}) as SdkErrorShape;
  const status = e.$metadata?.httpStatusCode;
  const what = key === undefined ? `s3://${target.bucket}` : `s3://${target.bucket}/${key}`;
  const reason = ([e.name && e.name !== 'Error' ? e.name : e.code, e.message].filter(Boolean).join(': ') || String(error)).replace(/\.+$/, '');
  return new StoreError(
    `S3 ${operation} of ${what} at ${endpointLabel(target)} failed: ${reason}${status ? ` (HTTP ${status})` : ''}. ${hintFor(e, target)}`,
    { cause: error },
  );
}
