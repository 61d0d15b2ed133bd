// What a crash needs only once it has something to store: the streaming pipeline (crypto,
// zlib), the heap-histogram thread (worker_threads) and the crash page. src/capture/crash.ts
// loads this on first use, so an idle watchdog neither compiles nor holds any of it (start-up
// latency and idle memory: issues 10 and 12).
export { storeArtifact, storeBytes, storeJson } from '../store/pipeline.ts';
export { HeapHistogramTap, nameThrowers, storeHistogram } from './heap-histogram.ts';
export { storeCrashPage } from './crash-page.ts';
import { collectExternalMemorySooner } from '../store/external-memory-gc.ts';

// Loaded by the first crash that stores anything: from here on, dead Buffers (read chunks,
// compressed output) are collected as they add up, not only after ~64 MiB of them.
collectExternalMemorySooner();
