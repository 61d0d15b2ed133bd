/**
 * Environment → the one frozen {@link Config}. The only place that reads the settings below;
 * everything deeper receives the result. Blank values count as unset.
 *
 * | Setting | Default | Meaning |
 * |---|---|---|
 * | POSTMORTEM_DISABLE | false | true: the buildpack steps aside, the app runs unwrapped |
 * | POSTMORTEM_STORE | the store service, else `<dumpDir>/store` (warned) | `s3://bucket[/prefix]` or `file:///absolute/path` |
 * | POSTMORTEM_SERVICE | service named/tagged `postmortem`, else the only S3 service | name of the bound service that is the store |
 * | POSTMORTEM_S3_PATH_STYLE | true with a non-AWS endpoint, else false | path-style addressing (`https://host/bucket/key`) |
 * | POSTMORTEM_SSE | none (bucket default) | server-side encryption: `AES256` or `aws:kms` |
 * | POSTMORTEM_SSE_KMS_KEY_ID | none (AWS managed key) | KMS key id or ARN; only with POSTMORTEM_SSE=aws:kms |
 * | POSTMORTEM_STORAGE_CLASS | none (bucket default) | STANDARD, STANDARD_IA, ONEZONE_IA, INTELLIGENT_TIERING, GLACIER_IR, |
 * |   |   | REDUCED_REDUNDANCY, GLACIER, DEEP_ARCHIVE; any class name on a non-AWS endpoint |
 * | POSTMORTEM_ACL | none (bucket default) | private, bucket-owner-full-control, bucket-owner-read, authenticated-read |
 * |   |   | (public ACLs are refused: heap dumps hold secrets) |
 * | POSTMORTEM_GRACE | 30s | hold after a crash once uploads are done; 0 to 1h |
 * | POSTMORTEM_UPLOAD_TIMEOUT | 15m | deadline for all uploads of one crash; 1s to 24h |
 * | POSTMORTEM_GZIP_LEVEL | 1 | gzip level 0..9 for what we compress (0 = store as is) |
 * | POSTMORTEM_COMPRESSION | gzip | `gzip` or `zstd` (level 1, .zst; needs Node >= 22.15, else gzip, logged) for what the watchdog compresses |
 * | POSTMORTEM_JAVA | true | add heap-dump flags to JAVA_TOOL_OPTIONS |
 * | POSTMORTEM_DUMP_COMPRESSION | auto | who gzips a heap dump: `watchdog` (JVM writes it plain), `jvm` (JDK 17+ HeapDumpGzipLevel), `auto` (watchdog when the free disk holds a plain dump, see dump-strategy.ts) |
 * | POSTMORTEM_PUNCH_HOLES | true | free a plain dump's disk blocks behind the upload (fallocate --punch-hole); see growing-file.ts |
 * | POSTMORTEM_DUMP_DISK_LIMIT | 256MiB | disk a punched plain dump may take before its writer waits for the upload (writer-pacing.ts); 0 = never wait, else 64MiB to 1TiB |
 * | POSTMORTEM_DUMP_DIR | `<TMPDIR, opts.defaultTmp or /tmp>/postmortem` | absolute folder for dumps and artifacts |
 * | POSTMORTEM_PART_SIZE | 8MiB | multipart part size; 5MiB (the S3 minimum) to 512MiB; the default grows past a ~62 GiB memory limit (defaultPartSize) |
 * | POSTMORTEM_QUEUE_SIZE | 4 | parts uploaded in parallel; 1 to 16 (memory ≈ part size × queue size) |
 * | POSTMORTEM_LOG_TAIL | 256KiB | bytes of recent app output kept; 0 to 16MiB |
 * | POSTMORTEM_MAX_DUMPS | 2 | heap dumps and cores stored per app instance and window (0 = no limit); crash loops |
 * | POSTMORTEM_DUMP_WINDOW | 1h | that window; 1m to 7d |
 * | POSTMORTEM_APP_FILES | none | comma-separated globs under the app folder (`logs/*.log,conf/*.yml`; `**` spans folders) stored as app-files.tar.gz |
 * | POSTMORTEM_APP_FILES_MAX | 100MiB | size cap of those files; files past it are left out (logged) |
 * | POSTMORTEM_REPORT_ENV | none | comma-separated variable names whose values the report keeps (others not known safe show ***; secret-named ones never) |
 * | POSTMORTEM_THREAD_DUMP_ON_STOP | true | on SIGTERM, a JVM's thread dump is taken (SIGQUIT) and stored before the stop |
 * | POSTMORTEM_POST_STOP | none | a command (bash -c) run after a crash's evidence is stored; also .postmortem/post-stop |
 * | POSTMORTEM_PROGRESS_EVERY | 5s | how often a long upload logs its progress |
 * | POSTMORTEM_POST_STOP_TIMEOUT | 30s | how long postStop hooks may run; 1s to 1h |
 * | POSTMORTEM_MEMORY_RESERVE | 144MiB | taken off the app's MEMORY_LIMIT for the watchdog (0 = off); see memory-limit.ts |
 * | AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL | AWS | S3 endpoint (http(s) URL) when the service gives none |
 * | AWS_REGION, AWS_DEFAULT_REGION | us-east-1 | region when the service gives none |
 * | AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN | SDK default chain | credentials when the service gives none |
 * | VCAP_SERVICES | — | bound services; see bindings.ts for which one is used and the accepted shapes |
 * | VCAP_APPLICATION, CF_INSTANCE_INDEX, CF_INSTANCE_GUID, CF_INSTANCE_IP, MEMORY_LIMIT | "unknown-…" | app identity |
 * | POSTMORTEM_CONTAINER_MEMORY_LIMIT | — | set by our profile.d script: the container's MEMORY_LIMIT before the reserve |
 *
 * How POSTMORTEM_STORE, the service and AWS_* combine: see store-target.ts.
 * Durations: `500ms`, `30s`, `2m`, `1h`, `1m30s`; a plain number is seconds.
 * Sizes: `64KiB`, `8MiB`, `1GiB`, `512k` (binary multiples, like -Xmx); a plain number is bytes.
 * Booleans: true/false, 1/0, yes/no, any case.
 */
import { isAbsolute, join } from 'node:path';
import { COMPRESSIONS, ConfigError, DUMP_COMPRESSIONS, type Config, type Env } from './types.ts';
import { newFindings, problem, shown, type Findings } from './problems.ts';
import {
  parseBoolean,
  readAbsolutePath,
  readBoolean,
  readBytes,
  readDuration,
  readChoice,
  readInteger,
  readSetting,
} from './settings.ts';
import { formatBytes } from './units.ts';
import { MEMORY_RESERVE, parseMemoryLimit, readMemoryReserve } from './memory-limit.ts';
import { resolveStore } from './store-target.ts';
import { readAppIdentity } from './app-identity.ts';
import { readMemoryWatch } from './memory-watch.ts';
import { collectSecrets, scrubSecrets } from './secrets.ts';

export { collectSecrets } from './secrets.ts';
export { SUPPORTED_BINDING_SHAPES } from './bindings.ts';

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
const KiB = 1024;
/** Diego's graceful_shutdown_interval: SIGKILL this long after SIGTERM (PLATFORM.md). */
export const DIEGO_STOP_GRACE_MS = 10 * SECOND;
const MiB = 1024 * KiB;

export const DEFAULTS = {
  graceMs: 30 * SECOND,
  uploadTimeoutMs: 15 * MINUTE,
  gzipLevel: 1,
  compression: 'gzip',
  java: true,
  dumpCompression: 'auto',
  punchHoles: true,
  /** 0.7x the bench's gzip'd 1.32 GiB dump: peak disk about the stored size; see writer-pacing.ts. */
  dumpDiskLimit: 256 * MiB,
  histogramThread: false,
  /**
   * 8 MiB x4 (32 MiB), awscli's part size: RGW stores every part as two RADOS objects (4 MiB
   * stripes), so 8 MiB parts make 38% fewer objects per GiB than 5 MiB ones, and the store,
   * which shares the container host's CPU with us in the bench, spent 6% less CPU per GiB
   * (bench/README.md, "Fourteenth session"; 5 MiB x6 before).
   */
  partSize: 8 * MiB,
  queueSize: 4,
  logTailBytes: 256 * KiB,
  threadDumpOnStop: true,
  maxDumps: 2,
  dumpWindowMs: HOUR,
  postStopTimeoutMs: 30 * SECOND,
  stopDeadlineMs: 9 * SECOND,
  progressEveryMs: 5 * SECOND,
  /** The watchdog's peak RSS uploading a heap dump (crash bench, median, rounded up to 16 MiB; memory-limit.ts), set aside from the app's MEMORY_LIMIT. */
  memoryReserve: MEMORY_RESERVE.fallback,
} as const;

export interface ParseOptions {
  /** Temp folder when TMPDIR is unset or not absolute (the launcher sets TMPDIR). */
  defaultTmp?: string;
}

export interface ParsedConfig {
  config: Config;
  warnings: string[];
}

/**
 * Reads every setting, collecting all problems before throwing one ConfigError. Messages
 * never contain secrets. The config is deep-frozen.
 */
export function parseConfig(env: Env, opts: ParseOptions = {}): ParsedConfig {
  const findings = newFindings();
  readBoolean(env, 'POSTMORTEM_DISABLE', false, findings); // only validated here; see isDisabled

  const dumpDir = readAbsolutePath(env, 'POSTMORTEM_DUMP_DIR', defaultDumpDir(env, opts), findings);
  const { store, storeIsFallback } = resolveStore(env, dumpDir, findings);
  const app = readAppIdentity(env, findings);
  const config: Config = {
    store,
    storeIsFallback,
    graceMs: readDuration(env, 'POSTMORTEM_GRACE', { min: 0, max: HOUR, fallback: DEFAULTS.graceMs }, findings),
    gzipLevel: readInteger(env, 'POSTMORTEM_GZIP_LEVEL', { min: 0, max: 9, fallback: DEFAULTS.gzipLevel }, findings),
    compression: readChoice(env, 'POSTMORTEM_COMPRESSION', COMPRESSIONS, findings, DEFAULTS.compression) ?? DEFAULTS.compression,
    java: readBoolean(env, 'POSTMORTEM_JAVA', DEFAULTS.java, findings),
    dumpCompression: readChoice(env, 'POSTMORTEM_DUMP_COMPRESSION', DUMP_COMPRESSIONS, findings) ?? DEFAULTS.dumpCompression,
    punchHoles: readBoolean(env, 'POSTMORTEM_PUNCH_HOLES', DEFAULTS.punchHoles, findings),
    dumpDiskLimit: readDumpDiskLimit(env, findings),
    histogramThread: readBoolean(env, 'POSTMORTEM_HISTOGRAM_THREAD', DEFAULTS.histogramThread, findings),
    dumpDir,
    partSize: readBytes(
      env,
      'POSTMORTEM_PART_SIZE',
      { min: 5 * MiB, max: 512 * MiB, fallback: defaultPartSize(parseMemoryLimit(app.memoryLimit)) },
      findings,
    ),
    queueSize: readInteger(env, 'POSTMORTEM_QUEUE_SIZE', { min: 1, max: 16, fallback: DEFAULTS.queueSize }, findings),
    logTailBytes: readBytes(env, 'POSTMORTEM_LOG_TAIL', { min: 0, max: 16 * MiB, fallback: DEFAULTS.logTailBytes }, findings),
    uploadTimeoutMs: readDuration(
      env,
      'POSTMORTEM_UPLOAD_TIMEOUT',
      { min: SECOND, max: 24 * HOUR, fallback: DEFAULTS.uploadTimeoutMs },
      findings,
    ),
    maxDumps: readInteger(env, 'POSTMORTEM_MAX_DUMPS', { min: 0, max: 1000, fallback: DEFAULTS.maxDumps }, findings),
    dumpWindowMs: readDuration(env, 'POSTMORTEM_DUMP_WINDOW', { min: MINUTE, max: 7 * 24 * HOUR, fallback: DEFAULTS.dumpWindowMs }, findings),
    appFiles: readList(env, 'POSTMORTEM_APP_FILES'),
    reportEnv: readList(env, 'POSTMORTEM_REPORT_ENV'),
    appFilesMaxBytes: readBytes(env, 'POSTMORTEM_APP_FILES_MAX', { min: 0, max: 4096 * MiB, fallback: 100 * MiB }, findings),
    threadDumpOnStop: readBoolean(env, 'POSTMORTEM_THREAD_DUMP_ON_STOP', DEFAULTS.threadDumpOnStop, findings),
    ...optionalCommand(readSetting(env, 'POSTMORTEM_POST_STOP')),
    progressEveryMs: readDuration(env, 'POSTMORTEM_PROGRESS_EVERY', { min: 100, max: HOUR, fallback: DEFAULTS.progressEveryMs }, findings),
    postStopTimeoutMs: readDuration(
      env,
      'POSTMORTEM_POST_STOP_TIMEOUT',
      { min: SECOND, max: HOUR, fallback: DEFAULTS.postStopTimeoutMs },
      findings,
    ),
    memoryReserve: readMemoryReserve(env, findings),
    // Diego SIGKILLs the top process 10 s after SIGTERM: our deadline can never be later.
    stopDeadlineMs: readDuration(
      env,
      'POSTMORTEM_STOP_DEADLINE',
      { min: 3 * SECOND, max: DIEGO_STOP_GRACE_MS, fallback: DEFAULTS.stopDeadlineMs },
      findings,
    ),
    memoryWatch: readMemoryWatch(env, findings),
    app,
  };
  warnAboutUploadMemory(config, findings);

  const secrets = collectSecrets(env);
  const problems = findings.problems.map((p) => scrubSecrets(p, secrets));
  if (problems.length > 0) throw new ConfigError(problems);
  return { config: deepFreeze(config), warnings: findings.warnings.map((w) => scrubSecrets(w, secrets)) };
}

/** A comma-separated list; blanks dropped. */
function readList(env: Env, name: string): string[] {
  return (readSetting(env, name) ?? '').split(',').map((item) => item.trim()).filter(Boolean);
}

function optionalCommand(command: string | undefined): { postStopCommand?: string } {
  return command === undefined ? {} : { postStopCommand: command };
}

/** POSTMORTEM_DISABLE is true/1/yes; an unreadable value does not disable (parseConfig reports it). */
export function isDisabled(env: Env): boolean {
  const text = readSetting(env, 'POSTMORTEM_DISABLE');
  return text !== undefined && parseBoolean(text) === true;
}

function defaultDumpDir(env: Env, opts: ParseOptions): string {
  // A relative TMPDIR would make the dump folder depend on the working directory.
  const tmp = [readSetting(env, 'TMPDIR'), opts.defaultTmp].find((d) => d !== undefined && isAbsolute(d)) ?? '/tmp';
  return join(tmp, 'postmortem');
}

/** S3's limit on parts per multipart upload. */
const S3_MAX_PARTS = 10_000;
/**
 * The largest artifact a container can make, per byte of its memory limit: a heap dump is at
 * most about the heap plus HPROF's framing, a core can carry mapped pages besides; with room.
 */
const LARGEST_ARTIFACT_PER_LIMIT_BYTE = 1.25;

/**
 * The default part size: 8 MiB, raised (whole MiB, at most 512) so that S3's 10,000 parts hold
 * the largest artifact the container can make even stored uncompressed. 8 MiB parts hold
 * 78.1 GiB, so only a memory limit above ~62 GiB raises it; with no known limit it stays 8 MiB.
 */
export function defaultPartSize(containerLimit: number | undefined): number {
  if (containerLimit === undefined) return DEFAULTS.partSize;
  const needed = Math.ceil((containerLimit * LARGEST_ARTIFACT_PER_LIMIT_BYTE) / S3_MAX_PARTS / MiB) * MiB;
  return Math.min(512 * MiB, Math.max(DEFAULTS.partSize, needed));
}

/** Upload buffers live in the watchdog, whose memory counts against the app's limit. */
function warnAboutUploadMemory(config: Config, findings: Findings): void {
  const limit = parseMemoryLimit(config.app.memoryLimit);
  const buffers = config.partSize * config.queueSize;
  if (limit !== undefined && buffers > limit / 4) {
    findings.warnings.push(
      `Uploads may buffer ${formatBytes(buffers)} (POSTMORTEM_PART_SIZE ${formatBytes(config.partSize)} × ` +
        `POSTMORTEM_QUEUE_SIZE ${config.queueSize}), more than a quarter of the app's memory limit ` +
        `${formatBytes(limit)}; this memory counts against the app. Lower one of them.`,
    );
  }
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const item of Object.values(value)) deepFreeze(item);
  }
  return value;
}

/** 0 (never pace) or 64 MiB and up: below that the punch batches (16 MiB) and reads would pause it at every step. */
function readDumpDiskLimit(env: Env, findings: Findings): number {
  const name = 'POSTMORTEM_DUMP_DISK_LIMIT';
  const bytes = readBytes(env, name, { min: 0, max: 1024 * 1024 * MiB, fallback: DEFAULTS.dumpDiskLimit }, findings);
  if (bytes > 0 && bytes < 64 * MiB) {
    findings.problems.push(problem({ setting: name, received: shown(readSetting(env, name) ?? ''), expected: '0 (never pause the dump\'s writer) or at least 64MiB', fix: `set ${name} to 0 or to 64MiB or more, or remove it for the default ${formatBytes(DEFAULTS.dumpDiskLimit)}` }));
    return DEFAULTS.dumpDiskLimit;
  }
  return bytes;
}
