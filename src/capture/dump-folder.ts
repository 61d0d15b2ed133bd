// Notices new heap dumps in the folders the JVM writes them to. chokidar uses inotify:
// nothing runs while no file appears (no polling).
import chokidar, { type FSWatcher } from 'chokidar';
import path from 'node:path';

export const HEAP_DUMP_NAME = /^java_pid\d+(?:\.\d+)?\.hprof(?:\.gz)?$|\.hprof(?:\.gz)?$/;

export interface DumpFolderWatch {
  ready: Promise<void>;
  close(): Promise<void>;
}

export function watchDumpFolders(folders: string[], onHeapDump: (file: string) => void): DumpFolderWatch {
  const watcher: FSWatcher = chokidar.watch(folders, {
    ignoreInitial: true,
    depth: 0,
    usePolling: false,
    ignorePermissionErrors: true,
  });
  watcher.on('add', (file) => {
    if (HEAP_DUMP_NAME.test(path.basename(file))) onHeapDump(file);
  });
  watcher.on('error', () => { /* a vanished folder must not take the watchdog down */ });
  const ready = new Promise<void>((resolve) => watcher.once('ready', () => resolve()));
  return { ready, close: () => watcher.close() };
}
