// The app's own -XX:HeapDumpPath (in JAVA_OPTS or its start command wins over ours in
// JAVA_TOOL_OPTIONS). HotSpot treats it as a folder only when it is an existing folder
// (then it writes java_pid<pid>.hprof[.gz] there); otherwise it is the dump file itself,
// written with the user's exact name (gzip inside when HeapDumpGzipLevel is on, even without
// .gz), and opened exclusively: an existing file means no dump at all. Each is watched as
// what it is, or the log says plainly why it cannot be.
import { statSync } from 'node:fs';
import path from 'node:path';
import type { EventLog } from '../util/event-log.ts';
import { JVM_FILES, type EvidenceFolder } from './evidence-folders.ts';

export async function userDumpTarget(given: string, appDir: string, gzipped: boolean, log: EventLog): Promise<EvidenceFolder | undefined> {
  const target = path.resolve(appDir, given); // the JVM's working directory is the app's
  // Synchronous: it runs before the app is spawned.
  const info = statQuietly(target);
  if (info?.isDirectory()) {
    log.info(`the app's -XX:HeapDumpPath=${given} is a folder: heap dumps written there are stored too`);
    return { folder: target, classify: JVM_FILES, shared: true };
  }
  if (info) {
    log.warn(`the app's -XX:HeapDumpPath=${given} names an existing file: the JVM will not overwrite it, so an OutOfMemoryError leaves no heap dump (remove the file, or name a folder)`);
    return undefined;
  }
  const parent = path.dirname(target);
  if (given.endsWith('/') || !statQuietly(parent)?.isDirectory()) {
    log.warn(`the app's -XX:HeapDumpPath=${given} is in a folder that does not exist: the JVM cannot write a heap dump there (create ${given.endsWith('/') ? target : parent} first)`);
    return undefined;
  }
  const name = path.basename(target);
  log.info(`the app's -XX:HeapDumpPath=${given} names a file: a heap dump written there is stored too`);
  return { folder: parent, classify: (file) => (file === name ? 'heap' : undefined), shared: true, gzipped };
}

function statQuietly(file: string): ReturnType<typeof statSync> {
  try {
    return statSync(file, { throwIfNoEntry: false });
  } catch {
    return undefined;
  }
}
