// `postmortem dump`, run by a person in `cf ssh` while the app is alive: a JVM gives its
// thread dump and heap dump through the attach protocol (no JDK tools needed); any other
// process can only be asked for a core by aborting it (--kill), which the watchdog then
// captures like any crash. Evidence goes to the same store, reason "on-demand".
import type { Config } from '../config/types.ts';
import type { Store } from '../store/store.ts';
import type { EventLog } from '../util/event-log.ts';
import { threadDump } from './attach/hotspot.ts';
import { Crash } from './crash.ts';
import { addHeapDump, textArtifact } from './live-capture.ts';
import { isJvm } from './process-tree.ts';
import type { Report } from './report.ts';

export interface OnDemandInput {
  pid: number;
  config: Config;
  store: () => Promise<Store>;
  log: EventLog;
  buildpackVersion: string;
  heap: boolean;
  kill: boolean;
  now?: () => Date;
}

export type OnDemandResult = { kind: 'captured'; report: Report | undefined } | { kind: 'killed'; pid: number };

export async function dumpOnDemand(input: OnDemandInput): Promise<OnDemandResult> {
  const { pid, config, log } = input;
  if (!isJvm(pid)) {
    if (!input.kill) throw new Error(`process ${pid} is not a JVM: only a core can be had from it, by aborting it (postmortem dump --kill); the watchdog then stores the core`);
    process.kill(pid, 'SIGABRT');
    log.info(`sent SIGABRT to ${pid}: the watchdog stores its core and report, then the platform restarts the instance`);
    return { kind: 'killed', pid };
  }
  const now = input.now ?? (() => new Date());
  const crash = new Crash({ config, store: input.store, log, now, buildpackVersion: input.buildpackVersion, startedAt: now() }, 'on-demand');
  log.info(`thread dump of JVM ${pid}`);
  const threads = await threadDump(pid, { locks: true });
  crash.add(textArtifact('threads.txt', threads));
  if (input.heap) await addHeapDump(crash, pid, config, log, 'on-demand');
  const report = await crash.finish({});
  return { kind: 'captured', report };
}
