// Before the app starts: the JVM flags and folders for heap dumps and fatal error logs, the
// core size limit and where cores will land, and a plain word on what can be captured.
// Its file system calls are synchronous: all of this runs before the app is spawned, and a
// trip through the thread pool for each only makes the app start later on a busy machine.
import { mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { Config, Env } from '../config/types.ts';
import type { EventLog } from '../util/event-log.ts';
import { readCoreOwner } from './core-owner.ts';
import { planCores, withCoreLimit } from './cores.ts';
import { dumpNeeds, freeBytes } from './disk.ts';
import { parseMemoryLimit } from '../config/memory-limit.ts';
import { JVM_FILES, type EvidenceFolder } from './evidence-folders.ts';
import { javaToolOptions, userHeapDumpGzipLevel, userHeapDumpPaths } from './java-options.ts';
import { userDumpTarget } from './user-dump-path.ts';
import { findJavaMajors } from './java-version.ts';
import { formatBytes } from '../config/units.ts';
import { chooseDumpStrategy, maxHeapOption } from './dump-strategy.ts';

export interface Prepared {
  command: string[];
  /** Variables to set in the app's environment. */
  env: Record<string, string>;
  folders: EvidenceFolder[];
  javaToolOptions?: string;
  javaMajors: number[];
}

export interface PrepareInput {
  config: Config;
  env: Env;
  command: string[];
  appDir: string;
  log: EventLog;
  /** The app's pid once it runs: a core is ours when its process group is the app's. */
  appPid: () => number | undefined;
  /** /proc/sys/kernel files; parameters so tests can state a pattern. */
  readKernel?: (name: 'core_pattern' | 'core_uses_pid') => Promise<string | undefined>;
}

const readKernelFile = async (name: string): Promise<string | undefined> => {
  try {
    return readFileSync(`/proc/sys/kernel/${name}`, 'utf8');
  } catch {
    return undefined;
  }
};

export async function prepareCapture(input: PrepareInput): Promise<Prepared> {
  const { config, env, log } = input;
  const prepared: Prepared = { command: input.command, env: {}, folders: [], javaMajors: [] };

  if (config.java) {
    // One folder per watchdog: a sidecar's watchdog must not take the app's heap dumps.
    const jvmDir = path.join(config.dumpDir, `jvm-${process.pid}`);
    try {
      mkdirSync(jvmDir, { recursive: true });
      const majors = await findJavaMajors(env, input.appDir);
      prepared.javaMajors = majors;
      const userOptions = [env.JAVA_OPTS, input.command.join(' ')];
      const heapLimit = maxHeapOption(env.JAVA_TOOL_OPTIONS, ...userOptions) ?? parseMemoryLimit(config.app.memoryLimit ?? env.MEMORY_LIMIT);
      const free = await freeBytes(jvmDir);
      // HeapDumpGzipLevel exists from JDK 17 (an unknown -XX flag stops a JVM from starting);
      // even there a plain dump compressed by the watchdog is faster, when the disk holds it.
      const strategy = chooseDumpStrategy({ setting: config.dumpCompression, gzipLevel: config.gzipLevel, javaMajors: majors, heapLimit, freeDisk: free });
      log.info(strategy.line);
      const jvmGzip = strategy.jvmGzipLevel;
      const value = javaToolOptions({ existing: env.JAVA_TOOL_OPTIONS, heapDumpDir: jvmDir, jvmGzipLevel: jvmGzip, nativeMemoryTracking: config.memoryWatch.nmt });
      prepared.env.JAVA_TOOL_OPTIONS = value;
      prepared.javaToolOptions = value;
      // Our own folder's dumps are ours to punch; a user's own dump file is never punched
      // (it is all they have when the upload fails).
      prepared.folders.push({ folder: jvmDir, classify: JVM_FILES, punchHoles: config.punchHoles && strategy.mayPunch });
      // The app's own HeapDumpPath wins where it is read after ours: JAVA_OPTS and the start
      // command (in JAVA_TOOL_OPTIONS ours comes last and wins).
      const gzipped = (userHeapDumpGzipLevel(...userOptions) ?? jvmGzip) > 0;
      for (const own of new Set(userHeapDumpPaths(...userOptions))) {
        const target = await userDumpTarget(own, input.appDir, gzipped, log);
        if (target) prepared.folders.push(target);
      }
      if (heapLimit && free !== undefined && free < dumpNeeds(heapLimit, jvmGzip > 0)) {
        log.warn(`only ${formatBytes(free)} free disk for heap dumps; a ${jvmGzip > 0 ? 'JVM-gzipped' : 'plain'} dump of this app can need ${formatBytes(dumpNeeds(heapLimit, jvmGzip > 0))} (raise the disk quota: cf scale APP -k 2G)`);
      }
    } catch (error) {
      log.warn(`heap dumps not enabled: ${error instanceof Error ? error.message : String(error)}`);
    }
  }

  const readKernel = input.readKernel ?? readKernelFile;
  const plan = planCores(await readKernel('core_pattern'), (await readKernel('core_uses_pid'))?.trim() === '1', input.appDir);
  log.info(plan.explanation);
  if (plan.capturable && plan.folder && plan.namePattern) {
    const names = plan.namePattern;
    prepared.folders.push({
      folder: plan.folder,
      classify: (name) => (names.test(name) ? 'core' : undefined),
      shared: true,
      // The app runs in its own process group (pgid = its pid); so do its children.
      owns: async (file) => {
        const owner = await readCoreOwner(file);
        const app = input.appPid();
        return owner && app ? owner.pgrp === app || owner.pid === app : undefined;
      },
    });
    prepared.command = withCoreLimit(input.command);
  }
  return prepared;
}
