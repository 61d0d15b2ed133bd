// The uploaders being compared (ours, rclone, awscli), each run as its own process under
// /usr/bin/time, and a plain SDK client for checking and cleaning the bucket.
import {
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  S3Client,
} from '@aws-sdk/client-s3';
import { createHash } from 'node:crypto';
import { execa } from 'execa';
import path from 'node:path';
import { Readable } from 'node:stream';
import { runMeasured, type Measured } from './proc.ts';
import { NODE_FLAGS } from '../../src/launch/profile-script.ts';

export interface S3Info {
  endpoint: string;
  region: string;
  accessKeyId: string;
  secretAccessKey: string;
  bucket: string;
}

/**
 * The environment reference tools run with: the machine's, less AWS_CA_BUNDLE (Debian's
 * rclone 1.60 refuses to start with it set; PLATFORM.md) and less any user AWS or rclone
 * configuration, so only what the benchmark passes counts.
 */
export function toolEnv(dir: string): Record<string, string | undefined> {
  const env: Record<string, string | undefined> = { ...process.env };
  for (const name of Object.keys(env)) if (/^(AWS_|RCLONE_)/.test(name)) delete env[name];
  env['AWS_CONFIG_FILE'] = path.join(dir, 'no-aws-config');
  env['AWS_SHARED_CREDENTIALS_FILE'] = path.join(dir, 'no-aws-credentials');
  env['RCLONE_CONFIG'] = path.join(dir, 'no-rclone.conf');
  return env;
}

/** rclone's tuned settings from the issue: 64 MiB chunks, 4 in flight. */
export const RCLONE_TUNING = ['--s3-chunk-size', '64M', '--s3-upload-concurrency', '4'];

export interface UploaderOptions {
  s3: S3Info;
  /** Folder for throw-away config paths. */
  dir: string;
  /** The droplet's Node.js (the runtime the watchdog runs on) and our bundled client. */
  node: string;
  ourClient: string;
  timeoutMs: number;
}

export type OurMode = 'raw' | 'gzip1' | 'gzip1-histogram' | 'histogram-only';

/** What our client printed: src/store/pipeline.ts's ArtifactRecord. */
export interface OurRecord {
  key: string;
  size: number;
  storedSize: number;
  sha256: string;
  storedSha256: string;
  verified: boolean;
  /** The client's highest RssAnon, sampled by itself every 25 ms. */
  anonPeakBytes?: number;
}

export class Uploaders {
  readonly #o: UploaderOptions;
  readonly #env: Record<string, string | undefined>;

  constructor(options: UploaderOptions) {
    this.#o = options;
    this.#env = toolEnv(options.dir);
  }

  get env(): Record<string, string | undefined> {
    return this.#env;
  }

  /** `rclone copy FILE remote:bucket/prefix/`, with the remote given by environment variables. */
  rclone(file: string, prefix: string, endpoint = this.#o.s3.endpoint): Promise<Measured> {
    const s3 = this.#o.s3;
    const env = {
      ...this.#env,
      RCLONE_CONFIG_BENCH_TYPE: 's3',
      RCLONE_CONFIG_BENCH_PROVIDER: 'Ceph',
      RCLONE_CONFIG_BENCH_ENDPOINT: endpoint,
      RCLONE_CONFIG_BENCH_REGION: s3.region,
      RCLONE_CONFIG_BENCH_ACCESS_KEY_ID: s3.accessKeyId,
      RCLONE_CONFIG_BENCH_SECRET_ACCESS_KEY: s3.secretAccessKey,
    };
    return runMeasured('rclone', ['copy', file, `bench:${s3.bucket}/${prefix}/`, ...RCLONE_TUNING, '--retries', '1'], { env, timeoutMs: this.#o.timeoutMs });
  }

  /** `aws s3 cp FILE s3://bucket/key` with the CLI's default transfer settings. */
  aws(file: string, key: string, endpoint = this.#o.s3.endpoint): Promise<Measured> {
    const s3 = this.#o.s3;
    const env = { ...this.#env, AWS_ACCESS_KEY_ID: s3.accessKeyId, AWS_SECRET_ACCESS_KEY: s3.secretAccessKey, AWS_DEFAULT_REGION: s3.region };
    return runMeasured('aws', ['--endpoint-url', endpoint, 's3', 'cp', file, `s3://${s3.bucket}/${key}`, '--only-show-errors'], { env, timeoutMs: this.#o.timeoutMs });
  }

  /** Our store (src/store via the bundled client) on the droplet's Node.js with the watchdog's flags. */
  async ours(file: string, prefix: string, mode: OurMode, endpoint = this.#o.s3.endpoint, extraEnv: Record<string, string> = {}): Promise<Measured & { record: OurRecord }> {
    const env = { ...this.#env, BENCH_S3: JSON.stringify({ ...this.#o.s3, endpoint }), ...extraEnv };
    const m = await runMeasured(this.#o.node, [...NODE_FLAGS.split(' '), this.#o.ourClient, file, prefix, mode], { env, timeoutMs: this.#o.timeoutMs });
    const record = JSON.parse(m.stdout.trim().split('\n').pop() ?? '{}') as OurRecord;
    return { ...m, record };
  }
}

/** A plain SDK client (not our code) to check and clean what the uploaders stored. */
export class Bucket {
  readonly client: S3Client;

  constructor(readonly s3: S3Info) {
    this.client = new S3Client({
      endpoint: s3.endpoint,
      region: s3.region,
      forcePathStyle: true,
      credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
    });
  }

  async size(key: string): Promise<number | undefined> {
    try {
      return (await this.client.send(new HeadObjectCommand({ Bucket: this.s3.bucket, Key: key }))).ContentLength;
    } catch {
      return undefined;
    }
  }

  async text(key: string): Promise<string> {
    const res = await this.client.send(new GetObjectCommand({ Bucket: this.s3.bucket, Key: key }));
    return res.Body!.transformToString();
  }

  /** sha256 of a stored object, streamed (never held in memory). */
  async sha256(key: string): Promise<string> {
    const res = await this.client.send(new GetObjectCommand({ Bucket: this.s3.bucket, Key: key }));
    const hash = createHash('sha256');
    for await (const chunk of res.Body as Readable) hash.update(chunk as Buffer);
    return hash.digest('hex');
  }

  async keys(prefix: string): Promise<{ key: string; size: number }[]> {
    const found: { key: string; size: number }[] = [];
    let token: string | undefined;
    for (let page = 0; page < 100; page++) {
      const res = await this.client.send(new ListObjectsV2Command({ Bucket: this.s3.bucket, Prefix: prefix, ContinuationToken: token }));
      for (const o of res.Contents ?? []) found.push({ key: o.Key!, size: o.Size ?? 0 });
      token = res.NextContinuationToken;
      if (!token) break;
    }
    return found;
  }

  /** Deletes everything under the prefix; the space comes back after the gateway's garbage collection. */
  async purge(prefix: string): Promise<void> {
    const keys = await this.keys(prefix);
    for (let i = 0; i < keys.length; i += 1000) {
      const batch = keys.slice(i, i + 1000).map((k) => ({ Key: k.key }));
      await this.client.send(new DeleteObjectsCommand({ Bucket: this.s3.bucket, Delete: { Objects: batch, Quiet: true } }));
    }
  }

  close(): void {
    this.client.destroy();
  }
}

/**
 * Runs RGW's garbage collection now (it would wait 60 s): the test cluster's OSD is a 20 GiB
 * file and the suite writes more than that in total.
 */
export async function collectGarbage(cephConf: string): Promise<void> {
  await execa('radosgw-admin', ['--conf', cephConf, 'gc', 'process', '--include-all'], { timeout: 120_000, reject: false });
}
