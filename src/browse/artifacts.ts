// Downloading and checking stored artifacts against their report, one streaming pass each.
import { createWriteStream } from 'node:fs';
import { link, mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { PassThrough, Transform, type Readable, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Report } from '../capture/report.ts';
import { codecOf, createDecompressor, isDataError } from '../store/codecs.ts';
import type { Store } from '../store/store.ts';
import { HashTap } from '../store/taps.ts';

export type ReportArtifact = Report['artifacts'][number];

export interface ArtifactCheck {
  name: string;
  ok: boolean;
  problems: string[];
  /** The watchdog stored it as incomplete (cut short), and why: never called ok. */
  incomplete?: string;
  storedSize?: number;
  storedSha256?: string;
  sha256?: string;
  savedAs?: string;
  /** Not a verdict on the stored object: reading it or writing the local file failed. */
  failed?: 'read' | 'save';
}

/**
 * Reads one artifact once: hashes the stored bytes, and (when compressed) the decompressed
 * content too; optionally writes the content to a file. Never buffers the whole object.
 */
export async function checkArtifact(
  store: Store,
  artifact: ReportArtifact,
  options: { saveTo?: string; onBytes?: (n: number) => void; keepCompressed?: boolean } = {},
): Promise<ArtifactCheck> {
  const problems: string[] = [];
  const head = await store.head(artifact.key);
  if (!head) return { name: artifact.name, ok: false, problems: [`${artifact.key} is not in the store`] };
  if (head.size !== artifact.storedSize) problems.push(`stored size ${head.size} != report ${artifact.storedSize}`);

  const stored = new HashTap(options.onBytes);
  const compression = artifact.compression === 'none' ? undefined : artifact.compression;
  const content = compression ? new HashTap() : undefined;
  // What the watchdog stored as cut short: decompress what is there (a truncated gzip is
  // expected), and compare content hashes only where the watchdog could compute them.
  const incomplete = artifact.complete === false ? artifact.incompleteReason ?? 'stored as incomplete' : undefined;
  // Before the download: a zstd object on a Node.js without zstd and no zstd command says so here.
  const decompressor = compression ? await createDecompressor(compression, incomplete !== undefined) : undefined;
  const body: Readable = await store.get(artifact.key);
  const stages: (Readable | Transform | NodeJS.WritableStream)[] = [body, stored];
  let savedAs: string | undefined;
  let partial: string | undefined;
  if (options.saveTo) {
    await mkdir(path.dirname(options.saveTo), { recursive: true });
    partial = `${options.saveTo}.partial`;
  }
  // 'wx': never through a file or link that is already there.
  const file = () => createWriteStream(partial!, { flags: 'wx' });
  // Kept compressed: the stored bytes are written as they pass, and still decompressed once to check the content hash.
  const keepStored = partial !== undefined && decompressor !== undefined && options.keepCompressed === true;
  if (keepStored) stages.push(teeTo(file()));
  if (decompressor) stages.push(decompressor, content!);
  if (partial && !keepStored) {
    stages.push(file());
  } else {
    const sink = new PassThrough();
    sink.resume();
    stages.push(sink);
  }
  try {
    await pipeline(stages as unknown as [Readable, ...Transform[], NodeJS.WritableStream]);
  } catch (error) {
    if (partial && (error as { code?: string }).code !== 'EEXIST') await rm(partial, { force: true });
    // Bytes that do not decompress are a verdict on the object (Z_DATA_ERROR…); anything else is the reading or the writing.
    const verdict = isDataError(error);
    return { name: artifact.name, ok: false, ...(verdict ? {} : { failed: 'read' as const }), problems: [...problems, `reading ${artifact.key} failed: ${error instanceof Error ? error.message : String(error)}`] };
  }
  const storedDigest = stored.digest();
  const contentDigest = content ? content.digest() : storedDigest;
  if (storedDigest.sha256 !== artifact.storedSha256) problems.push(`stored sha256 ${storedDigest.sha256} != report ${artifact.storedSha256}`);
  if (!(incomplete && artifact.sha256 === '')) {
    if (contentDigest.sha256 !== artifact.sha256) problems.push(`content sha256 ${contentDigest.sha256} != report ${artifact.sha256}`);
    if (contentDigest.bytes !== artifact.size) problems.push(`content size ${contentDigest.bytes} != report ${artifact.size}`);
  }
  let saveFailed = false;
  if (partial && options.saveTo) {
    if (problems.length === 0) {
      // link, not rename: a file already at the target is an error, never replaced.
      try {
        await link(partial, options.saveTo);
        savedAs = options.saveTo;
      } catch (error) {
        saveFailed = true;
        problems.push(`not saved: ${options.saveTo} ${(error as { code?: string }).code === 'EEXIST' ? 'already exists' : `could not be written (${error instanceof Error ? error.message : String(error)})`}`);
      }
    }
    await rm(partial, { force: true });
  }
  return {
    name: artifact.name,
    ok: problems.length === 0 && !incomplete,
    problems,
    ...(incomplete ? { incomplete } : {}),
    storedSize: head.size,
    storedSha256: storedDigest.sha256,
    sha256: contentDigest.sha256,
    ...(savedAs ? { savedAs } : {}),
    ...(saveFailed ? { failed: 'save' as const } : {}),
  };
}

/** File name of the downloaded content: decompressed, unless the stored (compressed) bytes are kept. */
export function contentFileName(artifact: ReportArtifact, keepCompressed = false): string {
  if (artifact.compression === 'none' || keepCompressed) return artifact.name;
  const extension = codecOf(artifact.compression).extension;
  return artifact.name.endsWith(extension) ? artifact.name.slice(0, -extension.length) : artifact.name;
}

/** Passes bytes on unchanged and writes them to `sink`, waiting for it (backpressure); ends it at the end. */
function teeTo(sink: Writable): Transform {
  const tee = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      if (sink.write(chunk)) done(null, chunk);
      else sink.once('drain', () => done(null, chunk));
    },
    flush(done) {
      sink.end(() => done());
    },
  });
  sink.on('error', (error) => tee.destroy(error));
  return tee;
}
