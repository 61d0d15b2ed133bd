// The contract every store (S3-compatible or local folder) fulfils. The watchdog needs only
// `put`: no List or Get at run time, so a write-only bucket policy is enough.
import type { Readable } from 'node:stream';

/** What bounds one store call: the caller's deadline as a signal, and the time left. */
export interface RequestLimits {
  /** Aborts the call (and its retries) at the caller's deadline. */
  signal?: AbortSignal | undefined;
  /** Upper bound for one request, derived by the caller from the time it has left. */
  timeoutMs?: number | undefined;
}

export interface PutRequest extends RequestLimits {
  /** Full object key, already built by keys.ts (no leading slash). */
  key: string;
  body: Readable;
  contentType: string;
  /** 'gzip' when the stored bytes are gzip-compressed. */
  contentEncoding?: string;
  /** User metadata (x-amz-meta-*); values must be ASCII. */
  metadata?: Record<string, string>;
  /** Called with the number of stored bytes sent so far. */
  onProgress?: (storedBytes: number) => void;
}

export interface PutResult {
  /** Human/tool usable location: s3://bucket/key or an absolute file path. */
  location: string;
  storedBytes: number;
  /** true when the store confirmed the object's size after writing (HEAD / stat). */
  verified: boolean;
  /** Why it could not be verified, when verified is false. */
  unverifiedReason?: string;
}

export interface StoredObject {
  key: string;
  size: number;
  lastModified?: Date;
}

export interface Store {
  /** e.g. "s3://crash-dumps/prod" or "file:///home/vcap/dumps"; never contains credentials. */
  readonly description: string;
  /** Location string for a key, as it will appear in logs and the report. */
  locationOf(key: string): string;
  put(request: PutRequest): Promise<PutResult>;
  /** Browse side (CLI), may need List/Get permissions. */
  list(prefix: string): AsyncIterable<StoredObject>;
  get(key: string): Promise<Readable>;
  head(key: string, limits?: RequestLimits): Promise<{ size: number; metadata: Record<string, string> } | undefined>;
  /**
   * Attaches tags after the fact (S3 object tagging). A streamed object's hashes are known
   * only at its end, after its metadata was sent: tags carry them. Best effort: returns why
   * not when the store or the policy does not allow it.
   */
  tag?(key: string, tags: Record<string, string>, limits?: RequestLimits): Promise<{ tagged: boolean; reason?: string }>;
  /** A URL someone can fetch without credentials (presigned for S3, file:// for folders). */
  url(key: string, expiresInSeconds: number): Promise<string>;
  close(): void;
}

export class StoreError extends Error {
  override name = 'StoreError';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}
