// The one typed, frozen configuration of the watchdog and of staging checks. Only
// src/config reads environment variables; everything deeper receives this object.
import type { MemoryWatchConfig } from './memory-watch.ts';

export interface S3Credentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

export interface S3Target {
  kind: 's3';
  bucket: string;
  /** Key prefix without leading/trailing slash ('' for none). */
  prefix: string;
  /** Custom endpoint (Ceph RGW, MinIO, ECS, …); undefined = AWS. */
  endpoint?: string;
  region: string;
  forcePathStyle: boolean;
  /**
   * From the bound service or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY. The SDK's default
   * chain (instance metadata included) is never used: without these or `profile`, a store
   * cannot be opened.
   */
  credentials?: S3Credentials;
  /** AWS_PROFILE without keys (people browsing from a laptop): that shared-credentials profile. */
  profile?: string;
  /** Where the target came from, for messages: 'POSTMORTEM_STORE' or 'service "my-store"'. */
  source: string;
  serverSideEncryption?: 'AES256' | 'aws:kms';
  kmsKeyId?: string;
  storageClass?: string;
  acl?: string;
}

export interface FileTarget {
  kind: 'file';
  /** Absolute folder. */
  root: string;
  prefix: string;
  source: string;
}

export type StoreTarget = S3Target | FileTarget;

/** Who we are, from VCAP_APPLICATION and CF_INSTANCE_*; every field has a fallback. */
export interface AppIdentity {
  name: string;
  guid: string;
  space: string;
  org: string;
  instanceIndex: string;
  instanceGuid: string;
  processType: string;
  instanceIp?: string;
  memoryLimit?: string;
  diskLimit?: string;
}

export const DUMP_COMPRESSIONS = ['auto', 'watchdog', 'jvm'] as const;
export type DumpCompression = (typeof DUMP_COMPRESSIONS)[number];

/** Who compresses what the watchdog compresses itself (POSTMORTEM_COMPRESSION; src/store/codecs.ts). */
export const COMPRESSIONS = ['gzip', 'zstd'] as const;
export type Compression = (typeof COMPRESSIONS)[number];

export interface Config {
  store: StoreTarget;
  /** true when nothing named a store: evidence stays in the container (logged loudly). */
  storeIsFallback: boolean;
  /** How long the container is held after a crash, once uploads are done. */
  graceMs: number;
  /** gzip level for artifacts we compress ourselves, 0 = store uncompressed. */
  gzipLevel: number;
  /** Add heap-dump flags to JAVA_TOOL_OPTIONS. */
  java: boolean;
  /** gzip, or zstd where the runtime has it (falls back to gzip, logged), for what we compress ourselves. */
  compression: Compression;
  /** Who gzips a heap dump (src/capture/dump-strategy.ts). */
  dumpCompression: DumpCompression;
  /** Free a plain dump's disk blocks behind the upload (src/capture/growing-file.ts). */
  punchHoles: boolean;
  /** Disk a punched plain dump may take before its writer waits for the upload; 0 = never (src/capture/writer-pacing.ts). */
  dumpDiskLimit: number;
  /** Parse heap dumps for the histogram in a worker thread (+20-35 MiB peak RSS, frees the main thread). */
  histogramThread: boolean;
  /** Folder we own for heap dumps and other artifacts. */
  dumpDir: string;
  /** Multipart part size in bytes and parts in flight; memory ≈ partSize × queueSize. */
  partSize: number;
  queueSize: number;
  /** Bytes of the app's recent stdout/stderr kept for the crash's log tail. */
  logTailBytes: number;
  /** Deadline for all uploads of one crash. */
  uploadTimeoutMs: number;
  /** Globs (relative to the app folder) of files stored with a crash as app-files.tar.gz. */
  appFiles: string[];
  /** POSTMORTEM_REPORT_ENV: variables whose values the report keeps although not known safe. */
  reportEnv: string[];
  appFilesMaxBytes: number;
  /** Crash loops: at most maxDumps big artifacts per app instance per dumpWindowMs (0 = no limit). */
  maxDumps: number;
  dumpWindowMs: number;
  /** On a stop request, take a JVM thread dump (SIGQUIT) before forwarding SIGTERM. */
  threadDumpOnStop: boolean;
  /** POSTMORTEM_POST_STOP: run with bash -c after the evidence is stored. */
  postStopCommand?: string;
  postStopTimeoutMs: number;
  /** From SIGTERM, the watchdog (the container's top process) is gone within this (<= 10 s). */
  stopDeadlineMs: number;
  /** How often a long upload logs a progress line. */
  progressEveryMs: number;
  /** Bytes taken off the app's MEMORY_LIMIT for the watchdog (POSTMORTEM_MEMORY_RESERVE); 0 = none. */
  memoryReserve: number;
  /** Memory pressure and GC spiral captures while the app runs (memory-watch.ts). */
  memoryWatch: MemoryWatchConfig;
  app: AppIdentity;
}

export class ConfigError extends Error {
  override name = 'ConfigError';
  /** Every problem found, each naming the setting and the fix. */
  readonly problems: readonly string[];
  constructor(problems: readonly string[]) {
    super(problems.join('; '));
    this.problems = problems;
  }
}

export type Env = Readonly<Record<string, string | undefined>>;
