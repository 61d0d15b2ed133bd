// The postmortem CLI: browse what crashed instances left behind (ls, show, get, verify, url,
// open, config) and take a dump inside the container (dump).
//
// Arguments are parsed by commander: it gives help on stdout, per-command help, --version,
// "unknown command" with a suggestion and per-option value parsers with no dependencies of
// its own (~41 KB minified, in lib/cli.mjs only: the watchdog never loads it). Version 14 because 15 needs Node 22.12 and this runs on 20.
// cac has no suggestions and is barely maintained; citty has neither suggestions nor
// per-option validation hooks.
//
// Exit codes: 0 ok, 1 failure, 2 usage (bad command, option or value; no store set),
// 3 verification failed (a stored object does not match its report, or is incomplete).
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Command, CommanderError, Option } from 'commander';
import { checkArtifact, contentFileName } from '../browse/artifacts.ts';
import { endpointUrl, nonBlank, pastDuration, positiveInteger, presignDuration, storeUrl, wholeNumber } from '../browse/cli-values.ts';
import { listCrashes, normalizeCrashRef, readReport, readReportText } from '../browse/crashes.ts';
import { readLogTail, renderDetails } from '../browse/details.ts';
import { renderCrashTable, renderReport } from '../browse/render.ts';
import { confinedPath } from '../browse/report-schema.ts';
import { maskedSettings, renderSettings } from '../browse/settings-view.ts';
import { jsonForTerminal, terminalSafe } from '../browse/terminal.ts';
import { findAppPid } from '../capture/app-pid.ts';
import { dumpOnDemand } from '../capture/on-demand.ts';
import { collectSecrets, parseConfig } from '../config/parse.ts';
import { scrubSecrets } from '../config/secrets.ts';
import { ConfigError, type Config, type Env } from '../config/types.ts';
import { formatBytes } from '../config/units.ts';
import { REPORT_NAME } from '../store/keys.ts';
import { openStore } from '../store/open-store.ts';
import type { Store } from '../store/store.ts';
import { createEventLog } from '../util/event-log.ts';
import { buildpackVersion } from '../util/version.ts';

const VERSION = buildpackVersion(import.meta.url);

// The SDK version is pinned; its "newer releases need Node 22" notice is not actionable here.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

const EXIT = { ok: 0, failure: 1, usage: 2, verificationFailed: 3 } as const;

class UsageError extends Error {}

interface Globals { store?: string; region?: string; profile?: string; endpoint?: string; json: boolean }

/** The environment the watchdog would read, with the command line's settings on top. */
function settingsEnv(g: Globals): Env {
  const env: Record<string, string | undefined> = { ...process.env };
  if (g.store) env.POSTMORTEM_STORE = g.store;
  if (g.region) env.AWS_REGION = g.region;
  if (g.endpoint) env.AWS_ENDPOINT_URL_S3 = g.endpoint;
  if (g.profile) {
    // Like aws --profile: the named profile, not keys that happen to be in the environment.
    env.AWS_PROFILE = g.profile;
    delete env.AWS_ACCESS_KEY_ID;
    delete env.AWS_SECRET_ACCESS_KEY;
    delete env.AWS_SESSION_TOKEN;
  }
  return env;
}

function describeStore(config: Config): string {
  const where = config.store.kind === 's3' ? `s3://${config.store.bucket}${config.store.prefix ? `/${config.store.prefix}` : ''}` : `file://${config.store.root}`;
  return `${where} (from ${config.store.source})`;
}

/** The store to browse: never the container's local fallback folder by accident. */
function browseStore(g: Globals): { store: Store; config: Config } {
  const { config } = parseConfig(settingsEnv(g));
  if (config.storeIsFallback) {
    throw new UsageError('no store is set: give --store s3://BUCKET[/prefix] (or file:///path), or set POSTMORTEM_STORE, or bind a store service (VCAP_SERVICES)');
  }
  return { config, store: openStore(config.store, { partSize: config.partSize, queueSize: config.queueSize }) };
}

/** Everything printed may come from the bucket: control characters never reach the terminal. */
function printer(g: Globals) {
  return (human: string, json: unknown) => process.stdout.write(g.json ? `${jsonForTerminal(json)}\n` : terminalSafe(human));
}

let exitCode: number = EXIT.ok;

/** Runs a command's body with the store open, closing it whatever happens. */
async function withStore(cmd: Command, body: (store: Store, config: Config, g: Globals) => Promise<number | void>): Promise<void> {
  const g = cmd.optsWithGlobals<Globals>();
  const { store, config } = browseStore(g);
  try {
    exitCode = (await body(store, config, g)) ?? EXIT.ok;
  } finally {
    store.close();
  }
}

const examples = (...lines: string[]) => `\nExamples:\n${lines.map((l) => `  $ ${l}`).join('\n')}\n`;

function buildProgram(): Command {
  const program = new Command('postmortem');
  program
    .description('Browse, fetch and verify the evidence crashed Cloud Foundry app instances left in the store.')
    .version(VERSION, '-V, --version', 'print the version')
    .helpOption('-h, --help', 'show help for a command')
    .helpCommand('help [command]', 'show help for a command')
    .exitOverride()
    .showSuggestionAfterError(true)
    .showHelpAfterError('(postmortem --help lists the commands; postmortem <command> --help shows a command\'s options)')
    .configureHelp({ showGlobalOptions: true, sortSubcommands: false })
    .configureOutput({ writeErr: (s) => process.stderr.write(terminalSafe(s)), writeOut: (s) => process.stdout.write(s) })
    .addOption(new Option('--store <url>', 'the store: s3://BUCKET[/prefix] or file:///path (default: POSTMORTEM_STORE, else a bound store service)').argParser(storeUrl))
    .addOption(new Option('--region <region>', 'S3 region (default: AWS_REGION, AWS_DEFAULT_REGION, us-east-1)').argParser(nonBlank))
    .addOption(new Option('--profile <name>', 'credentials of this profile in ~/.aws (instead of AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY)').argParser(nonBlank))
    .addOption(new Option('--endpoint <url>', 'S3 endpoint for a non-AWS store, e.g. https://rgw.example.com (default: AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL)').argParser(endpointUrl))
    .option('--json', 'machine-readable output', false)
    .addHelpText('after', `
Credentials: a bound store service (VCAP_SERVICES), else AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY,
else --profile / AWS_PROFILE. The SDK's default chain and instance metadata are never used.
A crash is named by its key prefix as ls and the watchdog print it (s3://bucket/… and a
trailing /report.json are accepted).

Exit codes: 0 ok, 1 failure, 2 usage (unknown command or option, bad value, no store set),
3 verification failed (a stored object differs from its report, or is incomplete).
${examples('postmortem ls --app shop --since 24h', 'postmortem show prod/acme/dev/shop/2026-11-27/20261127T031717Z-0-oom', 'postmortem get <crash> --out ./crash --keep-compressed')}`);

  program
    .command('ls')
    .description('list crashes, newest first (lists only the key prefix the filters name)')
    .option('--org <org>', 'only this org')
    .option('--space <space>', 'only this space (lists by prefix when --org is given too)')
    .option('--app <app>', 'only this app (lists by prefix when --org and --space are given too)')
    .option('--instance <index>', 'only this instance index')
    .option('--reason <reason>', 'only this reason (oom, container-oom, exit-1, signal-SIGSEGV, …)')
    .addOption(new Option('--since <duration>', 'only crashes this recent, e.g. 30m, 24h, 7d').argParser(pastDuration))
    .addOption(new Option('--limit <n>', 'at most n crashes').argParser(positiveInteger))
    .addHelpText('after', examples('postmortem ls --org acme --space prod --app shop --limit 5', 'postmortem ls --reason oom --since 24h --json'))
    .action(async (o: { org?: string; space?: string; app?: string; instance?: string; reason?: string; since?: number; limit?: number }, cmd: Command) => {
      await withStore(cmd, async (store, config, g) => {
        process.stderr.write(`postmortem: listing ${describeStore(config)}\n`);
        const rows = await listCrashes(store, config.store.prefix, {
          ...(o.org !== undefined ? { org: o.org } : {}),
          ...(o.space !== undefined ? { space: o.space } : {}),
          ...(o.app !== undefined ? { app: o.app } : {}),
          ...(o.instance !== undefined ? { instance: o.instance } : {}),
          ...(o.reason !== undefined ? { reason: o.reason } : {}),
          ...(o.since !== undefined ? { since: new Date(Date.now() - o.since) } : {}),
          ...(o.limit !== undefined ? { limit: o.limit } : {}),
        });
        printer(g)(renderCrashTable(rows), rows);
      });
    });

  program
    .command('show')
    .description('the crash report, readable: why it died, the OOM message, JVM flags, heap histogram top, log tail')
    .argument('<crash>', 'the crash, as ls prints it')
    .addOption(new Option('--tail <lines>', 'lines of the log tail to show (0: none)').default(20).argParser(wholeNumber))
    .addHelpText('after', examples('postmortem show prod/acme/dev/shop/2026-11-27/20261127T031717Z-0-oom', 'postmortem show <crash> --tail 100', 'postmortem show <crash> --json'))
    .action(async (ref: string, o: { tail: number }, cmd: Command) => {
      await withStore(cmd, async (store, _config, g) => {
        const report = await readReport(store, normalizeCrashRef(ref));
        if (g.json) return void printer(g)('', report);
        const logTail = await readLogTail(store, report, o.tail);
        printer(g)(renderReport(report) + renderDetails(report, logTail), report);
      });
    });

  const checkCommand = (name: 'get' | 'verify') => async (ref: string, o: { out?: string; keepCompressed?: boolean }, cmd: Command) => {
    await withStore(cmd, async (store, _config, g) => {
      const crash = normalizeCrashRef(ref);
      const { text, report } = await readReportText(store, crash);
      const out = name === 'get' ? path.resolve(o.out ?? path.basename(crash)) : undefined;
      if (out) {
        await mkdir(out, { recursive: true });
        // The report goes with what it describes: 'wx' never replaces a file already there.
        await writeFile(confinedPath(out, REPORT_NAME), text, { flag: 'wx' });
        if (!g.json) process.stdout.write(terminalSafe(`ok   ${REPORT_NAME} -> ${path.join(out, REPORT_NAME)}\n`));
      }
      const results = [];
      for (const artifact of report.artifacts) {
        let last = Date.now();
        const result = await checkArtifact(store, artifact, {
          // Names were checked with the report; confinedPath checks again where it is written.
          ...(out ? { saveTo: confinedPath(out, contentFileName(artifact, o.keepCompressed)), keepCompressed: o.keepCompressed === true } : {}),
          onBytes: (n) => {
            if (!g.json && process.stderr.isTTY && Date.now() - last > 1000) { last = Date.now(); process.stderr.write(terminalSafe(`  ${artifact.name}: ${formatBytes(n)} of ${formatBytes(artifact.storedSize)}\r`)); }
          },
        });
        results.push(result);
        const label = result.incomplete && result.problems.length === 0 ? 'INCOMPLETE' : result.ok ? 'ok  ' : 'FAIL';
        const notes = [...(result.incomplete ? [`stored as incomplete by the watchdog: ${result.incomplete}`] : []), ...result.problems];
        if (!g.json) process.stdout.write(terminalSafe(`${label} ${artifact.name}${result.savedAs ? ` -> ${result.savedAs}` : ''}${notes.length ? `: ${notes.join('; ')}` : ''}\n`));
      }
      if (g.json) printer(g)('', { crash, ...(out ? { out } : {}), results });
      // A local or network failure is not a verdict on the evidence: 1; a mismatch or an incomplete artifact: 3.
      if (results.some((r) => r.failed)) return EXIT.failure;
      return results.every((r) => r.ok) ? EXIT.ok : EXIT.verificationFailed;
    });
  };

  program
    .command('get')
    .description('download every artifact and report.json into a folder, checking each against the report')
    .argument('<crash>', 'the crash, as ls prints it')
    .option('--out <dir>', 'the folder to fill (default: ./<crash stem>); files already there are never replaced')
    .option('--keep-compressed', 'keep .gz and .zst artifacts as stored (Eclipse MAT opens heap.hprof.gz, not .zst) instead of decompressing them', false)
    .addHelpText('after', `${examples('postmortem get <crash> --out ./crash', 'postmortem get <crash> --out ./crash --keep-compressed')}
Exit 3 when an artifact differs from its report or was stored incomplete; 0 when all are verified.
`)
    .action(checkCommand('get'));

  program
    .command('verify')
    .description('check the stored objects against the report (sizes and sha256), downloading nothing to disk')
    .argument('<crash>', 'the crash, as ls prints it')
    .addHelpText('after', `${examples('postmortem verify <crash>', 'postmortem verify <crash> --json')}
Exit 3 when an artifact differs from its report or was stored incomplete; 0 when all are verified.
`)
    .action(checkCommand('verify'));

  program
    .command('url')
    .description('presigned links to every artifact of a crash, for people without credentials')
    .argument('<crash>', 'the crash, as ls prints it')
    .addOption(new Option('--expires <duration>', 'how long the links work: 1s to 7d, e.g. 10m, 1h, 7d').default(3_600_000, '1h').argParser(presignDuration))
    .addHelpText('after', examples('postmortem url <crash> --expires 10m', 'postmortem url <crash> --json'))
    .action(async (ref: string, o: { expires: number }, cmd: Command) => {
      await withStore(cmd, async (store, _config, g) => {
        const report = await readReport(store, normalizeCrashRef(ref));
        const urls = [];
        for (const a of report.artifacts) urls.push({ name: a.name, url: await store.url(a.key, Math.round(o.expires / 1000)) });
        printer(g)(urls.map((u) => `${u.name}\t${u.url}`).join('\n') + '\n', urls);
      });
    });

  program
    .command('open')
    .description("a presigned link to the crash's page (<crash>/index.html), to open in a browser")
    .argument('<crash>', 'the crash, as ls prints it')
    .addOption(new Option('--expires <duration>', 'how long the link works: 1s to 7d').default(3_600_000, '1h').argParser(presignDuration))
    .addHelpText('after', examples('postmortem open <crash>', 'xdg-open "$(postmortem open <crash>)"'))
    .action(async (ref: string, o: { expires: number }, cmd: Command) => {
      await withStore(cmd, async (store, _config, g) => {
        const key = `${normalizeCrashRef(ref)}/index.html`;
        if (!(await store.head(key))) throw new Error(`${key} is not in the store: this crash has no page (watchdogs older than the crash page do not write one); try postmortem show`);
        const url = await store.url(key, Math.round(o.expires / 1000));
        printer(g)(`${url}\n`, { key, url });
      });
    });

  program
    .command('config')
    .description('the settings as the watchdog would resolve them from this environment, secrets masked')
    .addHelpText('after', examples('postmortem config', 'POSTMORTEM_STORE=s3://dumps/prod postmortem config --json'))
    .action((_o: unknown, cmd: Command) => {
      const g = cmd.optsWithGlobals<Globals>();
      const env = settingsEnv(g);
      const { config, warnings } = parseConfig(env);
      const settings = maskedSettings(config, env);
      printer(g)(renderSettings(settings, warnings), { settings, warnings });
    });

  program
    .command('dump')
    .description("in cf ssh: a thread and heap dump of the running JVM into the store (the watchdog's store)")
    .addOption(new Option('--pid <pid>', "the JVM's pid (default: the app the watchdog runs)").argParser(positiveInteger))
    .option('--threads-only', 'thread dump only, no heap dump', false)
    .option('--kill', 'abort a non-JVM app so the watchdog stores its core', false)
    .addHelpText('after', examples('cf ssh shop -t -c "/tmp/lifecycle/shell" then: postmortem dump', 'postmortem dump --threads-only'))
    .action(async (o: { pid?: number; threadsOnly: boolean; kill: boolean }, cmd: Command) => {
      const g = cmd.optsWithGlobals<Globals>();
      const env = settingsEnv(g);
      const { config } = parseConfig(env);
      const store = openStore(config.store, { partSize: config.partSize, queueSize: config.queueSize });
      try {
        const pid = o.pid ?? (await findAppPid(config));
        if (!pid) throw new UsageError(`no app pid: run this inside the app's container (cf ssh), or give --pid`);
        const log = createEventLog((line) => process.stderr.write(line), collectSecrets(env));
        const result = await dumpOnDemand({ pid, config, store: async () => store, log, buildpackVersion: VERSION, heap: !o.threadsOnly, kill: o.kill });
        if (result.kind === 'captured' && result.report) printer(g)(`${result.report.crash}\n`, result.report);
        exitCode = result.kind === 'captured' && !result.report ? EXIT.failure : EXIT.ok;
      } finally {
        store.close();
      }
    });
  return program;
}

try {
  await buildProgram().parseAsync(process.argv);
  process.exitCode = exitCode;
} catch (error) {
  const secrets = collectSecrets(process.env);
  const say = (text: string) => process.stderr.write(terminalSafe(scrubSecrets(`postmortem: ${text}\n`, secrets)));
  if (error instanceof CommanderError) {
    // Help and --version exit 0; everything else commander refuses is a usage error (already printed).
    process.exitCode = error.exitCode === 0 ? EXIT.ok : EXIT.usage;
  } else if (error instanceof UsageError) {
    say(error.message);
    process.exitCode = EXIT.usage;
  } else if (error instanceof ConfigError) {
    say(`invalid settings:\n${error.problems.map((p) => `  - ${p}`).join('\n')}\n` +
      '(--store, --region, --endpoint and --profile stand for POSTMORTEM_STORE, AWS_REGION, AWS_ENDPOINT_URL_S3 and AWS_PROFILE)');
    process.exitCode = EXIT.failure;
  } else {
    // A planted or broken report (InvalidReportError), a store error, a missing crash: the message says which.
    say(error instanceof Error ? error.message : String(error));
    process.exitCode = EXIT.failure;
  }
}
