// The postmortem CLI: browse crashes people's instances left behind.
//   postmortem ls [--app A] [--since 24h] [--reason oom]
//   postmortem show|get|verify|url <crash> [--out DIR] [--expires 1h]
// All take --json and --store URL (else POSTMORTEM_STORE / a bound service, with the same
// credentials the watchdog uses: AWS_* variables or VCAP_SERVICES).
import path from 'node:path';
import { parseArgs } from 'node:util';
import { checkArtifact, contentFileName } from '../browse/artifacts.ts';
import { listCrashes, normalizeCrashRef, readReport } from '../browse/crashes.ts';
import { renderCrashTable, renderReport } from '../browse/render.ts';
import { confinedPath, InvalidReportError } from '../browse/report-schema.ts';
import { jsonForTerminal, terminalSafe } from '../browse/terminal.ts';
import { parseConfig } from '../config/parse.ts';
import { ConfigError } from '../config/types.ts';
import { formatBytes, parseDuration } from '../config/units.ts';
import { openStore } from '../store/open-store.ts';
import { findAppPid } from '../capture/app-pid.ts';
import { dumpOnDemand } from '../capture/on-demand.ts';
import { collectSecrets } from '../config/parse.ts';
import { createEventLog } from '../util/event-log.ts';
import { buildpackVersion } from '../util/version.ts';

const VERSION = buildpackVersion(import.meta.url);

// The SDK version is pinned; its "newer releases need Node 22" notice is not actionable here.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

const USAGE = `usage: postmortem <command> [options]
  ls      [--app NAME] [--since 24h] [--reason oom]   list crashes, newest first
  show    <crash>                                      the crash report, readable
  get     <crash> [--out DIR]                          download, decompress and verify every artifact
  verify  <crash>                                      check stored objects against the report
  url     <crash> [--expires 1h]                       presigned links to every artifact
  dump    [--pid N] [--threads-only] [--kill]          in cf ssh: thread and heap dump of the running JVM into the store;
                                                       --kill aborts a non-JVM app so the watchdog stores its core
options: --json, --store s3://bucket/prefix | file:///path (default: POSTMORTEM_STORE or a bound service)`;

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      app: { type: 'string' }, since: { type: 'string' }, reason: { type: 'string' },
      out: { type: 'string' }, expires: { type: 'string' }, store: { type: 'string' },
      json: { type: 'boolean', default: false }, help: { type: 'boolean', short: 'h', default: false },
      pid: { type: 'string' }, 'threads-only': { type: 'boolean', default: false }, kill: { type: 'boolean', default: false },
    },
  });
  const [command, ref] = positionals;
  if (values.help || !command) { process.stdout.write(`${USAGE}\n`); return command ? 0 : 2; }
  const env = { ...process.env, ...(values.store ? { POSTMORTEM_STORE: values.store } : {}) };
  const { config } = parseConfig(env);
  const store = openStore(config.store, { partSize: config.partSize, queueSize: config.queueSize });
  // Everything printed may come from the bucket: control characters never reach the terminal.
  const print = (human: string, json: unknown) => process.stdout.write(values.json ? `${jsonForTerminal(json)}\n` : terminalSafe(human));
  try {
    if (command === 'dump') {
      const pid = values.pid ? Number(values.pid) : await findAppPid(config);
      if (!pid || !Number.isInteger(pid)) throw new UsageError(`no app pid: run this inside the app's container (cf ssh), or give --pid`);
      const log = createEventLog((line) => process.stderr.write(line), collectSecrets(env));
      const result = await dumpOnDemand({ pid, config, store: async () => store, log, buildpackVersion: VERSION, heap: !values['threads-only'], kill: values.kill });
      if (result.kind === 'captured' && result.report) print(`${result.report.crash}\n`, result.report);
      return result.kind === 'captured' && !result.report ? 1 : 0;
    }
    if (command === 'ls') {
      const sinceMs = values.since ? parseDuration(values.since) : undefined;
      if (values.since && sinceMs === undefined) throw new UsageError(`--since ${values.since}: expected a duration like 24h or 30m`);
      const rows = await listCrashes(store, config.store.prefix, {
        ...(values.app ? { app: values.app } : {}),
        ...(values.reason ? { reason: values.reason } : {}),
        ...(sinceMs !== undefined ? { since: new Date(Date.now() - sinceMs) } : {}),
      });
      print(renderCrashTable(rows), rows);
      return 0;
    }
    if (!ref) throw new UsageError(`${command} needs a crash (as printed by the watchdog or listed by postmortem ls)`);
    const crash = normalizeCrashRef(ref);
    const report = await readReport(store, crash);
    switch (command) {
      case 'show':
        print(renderReport(report), report);
        return 0;
      case 'verify':
      case 'get': {
        const out = command === 'get' ? path.resolve(values.out ?? path.basename(crash)) : undefined;
        const results = [];
        for (const artifact of report.artifacts) {
          let last = Date.now();
          const result = await checkArtifact(store, artifact, {
            // Names were checked with the report; confinedPath checks again where it is written.
            ...(out ? { saveTo: confinedPath(out, contentFileName(artifact)) } : {}),
            onBytes: (n) => {
              if (!values.json && process.stderr.isTTY && Date.now() - last > 1000) { last = Date.now(); process.stderr.write(terminalSafe(`  ${artifact.name}: ${formatBytes(n)} of ${formatBytes(artifact.storedSize)}\r`)); }
            },
          });
          results.push(result);
          const label = result.incomplete && result.problems.length === 0 ? 'INCOMPLETE' : result.ok ? 'ok  ' : 'FAIL';
          const notes = [...(result.incomplete ? [`stored as incomplete by the watchdog: ${result.incomplete}`] : []), ...result.problems];
          if (!values.json) process.stdout.write(terminalSafe(`${label} ${artifact.name}${result.savedAs ? ` -> ${result.savedAs}` : ''}${notes.length ? `: ${notes.join('; ')}` : ''}\n`));
        }
        if (values.json) print('', { crash, results });
        return results.every((r) => r.ok) ? 0 : 1;
      }
      case 'url': {
        const seconds = Math.round((parseDuration(values.expires ?? '1h') ?? 3_600_000) / 1000);
        const urls = [];
        for (const a of report.artifacts) urls.push({ name: a.name, url: await store.url(a.key, seconds) });
        print(urls.map((u) => `${u.name}\t${u.url}`).join('\n') + '\n', urls);
        return 0;
      }
      default:
        throw new UsageError(`unknown command ${command}`);
    }
  } finally {
    store.close();
  }
}

class UsageError extends Error {}

try {
  process.exitCode = await main(process.argv.slice(2));
} catch (error) {
  if (error instanceof ConfigError) process.stderr.write(`postmortem: invalid settings:\n${error.problems.map((p) => `  - ${p}`).join('\n')}\n`);
  else if (error instanceof UsageError) process.stderr.write(terminalSafe(`postmortem: ${error.message}\n${USAGE}\n`));
  else if (error instanceof InvalidReportError) process.stderr.write(terminalSafe(`postmortem: ${error.message}\n`));
  else process.stderr.write(terminalSafe(`postmortem: ${error instanceof Error ? error.message : String(error)}\n`));
  process.exitCode = error instanceof UsageError ? 2 : 1;
}
