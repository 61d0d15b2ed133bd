// Picks the store for a configured target; the only place that knows both kinds.
import type { StoreTarget } from '../config/types.ts';
import { createFileStore } from './file-store.ts';
import { createS3Store, type S3StoreOptions } from './s3-store.ts';
import type { Store } from './store.ts';

/** partSize/queueSize/maxAttempts apply to S3 only; a folder store ignores them. */
export type OpenStoreOptions = S3StoreOptions;

export function openStore(target: StoreTarget, opts: OpenStoreOptions): Store {
  switch (target.kind) {
    case 's3':
      return createS3Store(target, opts);
    case 'file':
      return createFileStore(target);
  }
}
