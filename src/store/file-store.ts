// Store in a local folder with the same key layout as S3. Each object is written to
// `<path>.partial` and renamed when complete, so a half-written file (the container was
// killed mid-copy) never looks like finished evidence.
import { mkdir, open, readdir, rename, rm, stat, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { Writable, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { pathToFileURL } from 'node:url';
import type { FileTarget } from '../config/types.ts';
import { giveBack } from './output-slabs.ts';
import { StoreError, type PutRequest, type PutResult, type Store, type StoredObject } from './store.ts';

export const PARTIAL_SUFFIX = '.partial';

/** Writes an object's bytes to its open file, counting them; each piece is given back once written (output-slabs.ts). */
class FileSink extends Writable {
  bytes = 0;
  constructor(private readonly file: FileHandle, private readonly onBytes?: (total: number) => void) {
    super();
  }
  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.#writeAll(chunk).then(() => {
      giveBack(chunk);
      this.bytes += chunk.length;
      this.onBytes?.(this.bytes);
      callback();
    }, callback);
  }
  async #writeAll(chunk: Buffer): Promise<void> {
    for (let at = 0; at < chunk.length;) at += (await this.file.write(chunk, at, chunk.length - at)).bytesWritten;
  }
}

function codeOf(error: unknown): string | undefined {
  return (error as { code?: string } | undefined)?.code;
}

export function createFileStore(target: FileTarget): Store {
  const root = path.resolve(target.root);

  /** Keys are built by keys.ts, but a hand-typed key in the browse CLI must not escape root. */
  function pathOf(key: string): string {
    const full = path.resolve(root, ...key.split('/'));
    if (full !== root && !full.startsWith(root + path.sep)) {
      throw new StoreError(`key "${key}" points outside the store folder ${root}`);
    }
    return full;
  }

  const fail = (operation: string, key: string, error: unknown): StoreError =>
    error instanceof StoreError
      ? error
      : new StoreError(
          `${operation} of ${key} in folder ${root} failed: ${error instanceof Error ? error.message : String(error)}` +
            `. Check that ${root} (${target.source}) exists on a writable disk with free space.`,
          { cause: error },
        );

  async function put(request: PutRequest): Promise<PutResult> {
    const finalPath = pathOf(request.key);
    const partialPath = finalPath + PARTIAL_SUFFIX;
    let counter: FileSink | undefined;
    try {
      await mkdir(path.dirname(finalPath), { recursive: true });
      const file = await open(partialPath, 'w');
      try {
        counter = new FileSink(file, request.onProgress);
        await pipeline(request.body, counter, request.signal ? { signal: request.signal } : {});
        // On disk before it is renamed complete: the container may be torn down right after.
        await file.datasync();
      } finally {
        await file.close();
      }
      await rename(partialPath, finalPath);
    } catch (error) {
      await rm(partialPath, { force: true }).catch(() => {});
      throw fail('writing', request.key, error);
    }
    const { size } = await stat(finalPath);
    if (size !== counter.bytes) {
      throw new StoreError(`${finalPath} has ${size} bytes after writing ${counter.bytes}`);
    }
    return { location: finalPath, storedBytes: counter.bytes, verified: true };
  }

  /** Walks only below the deepest folder the prefix names, in sorted (S3-like) order. */
  async function* list(prefix: string): AsyncIterable<StoredObject> {
    const folder = prefix.includes('/') ? prefix.slice(0, prefix.lastIndexOf('/')) : '';
    async function* walk(relative: string): AsyncIterable<StoredObject> {
      let entries;
      try {
        entries = await readdir(relative ? pathOf(relative) : root, { withFileTypes: true });
      } catch (error) {
        if (codeOf(error) === 'ENOENT' || codeOf(error) === 'ENOTDIR') return;
        throw fail('listing', relative || '/', error);
      }
      entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
      for (const entry of entries) {
        const key = relative ? `${relative}/${entry.name}` : entry.name;
        if (entry.isDirectory()) {
          if (key.startsWith(prefix) || prefix.startsWith(`${key}/`)) yield* walk(key);
        } else if (entry.isFile() && key.startsWith(prefix) && !key.endsWith(PARTIAL_SUFFIX)) {
          const info = await stat(pathOf(key));
          yield { key, size: info.size, lastModified: info.mtime };
        }
      }
    }
    yield* walk(folder);
  }

  async function get(key: string): Promise<Readable> {
    const file = pathOf(key);
    try {
      // Open first so a missing file is a rejected promise, not a later stream error.
      const handle = await open(file, 'r');
      return handle.createReadStream();
    } catch (error) {
      throw fail('reading', key, error);
    }
  }

  async function head(key: string): Promise<{ size: number; metadata: Record<string, string> } | undefined> {
    try {
      const info = await stat(pathOf(key));
      return info.isFile() ? { size: info.size, metadata: {} } : undefined;
    } catch (error) {
      if (codeOf(error) === 'ENOENT') return undefined;
      throw fail('stat', key, error);
    }
  }

  return {
    description: pathToFileURL(target.prefix ? path.join(root, target.prefix) : root).href,
    locationOf: pathOf,
    put,
    list,
    get,
    head,
    url: async (key) => pathToFileURL(pathOf(key)).href,
    close: () => {},
  };
}
