// What every measurement gets: the sizes for this run (full or BENCH_QUICK), one temp folder
// for everything the suite writes, the RGW and its bucket, the uploaders, and droplets staged
// with (or without) this buildpack, all removed at the end whatever happens.
import { cp, mkdir, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { stage, type Droplet, type StageOptions } from '../../test/support/cf.ts';
import { compileJava } from '../../test/support/java.ts';
import type { Rgw } from '../../test/support/rgw.ts';
import type { Row } from './results.ts';
import { Bucket, collectGarbage, Uploaders, type S3Info } from './tools.ts';

export interface Sizes {
  rounds: number;
  /** -Xmx of the JVM that runs out of heap. */
  heap: string;
  /** Bytes of the file the upload-alone and constrained-link runs send (a slice of a real dump). */
  uploadBytes: number;
  idleSeconds: number;
  logSeconds: number;
  startupRuns: number;
  stagingRuns: number;
  /** Resident memory of the native process that aborts. */
  coreMiB: number;
}

export const FULL: Sizes = { rounds: 3, heap: '1g', uploadBytes: 1024 ** 3, idleSeconds: 60, logSeconds: 10, startupRuns: 11, stagingRuns: 5, coreMiB: 1024 };
export const QUICK: Sizes = { rounds: 3, heap: '256m', uploadBytes: 256 * 1024 ** 2, idleSeconds: 10, logSeconds: 3, startupRuns: 3, stagingRuns: 3, coreMiB: 256 };

export interface Bench {
  quick: boolean;
  sizes: Sizes;
  /** The suite's temp folder; everything it writes goes below it (or is listed for removal). */
  tmp: string;
  rgw: Rgw;
  s3: S3Info;
  bucket: Bucket;
  uploaders: Uploaders;
  /** The droplet runtime's Node.js (what the watchdog runs on). */
  node: string;
  /** Our bundled upload client (clients/upload.ts), run by Uploaders on a Node.js. */
  ourClient: string;
  /** Environment that points the buildpack at the bucket, under a key prefix. */
  storeEnv(prefix: string): Record<string, string>;
  /** stage() from the CF harness, its folders removed at the end. */
  stage(options: StageOptions): Promise<Droplet>;
  /** The same layout as a staged droplet, but without this buildpack (the reference launch). */
  plainDroplet(appDir: string): Promise<Droplet>;
  compileJava(sourceDir: string, classes: string[]): Promise<string>;
  /** Deletes objects under a prefix and lets RGW reclaim their space now. */
  purge(prefix: string): Promise<void>;
  log(message: string): void;
  /** Extra folders to remove at the end. */
  cleanup: string[];
  /** Handed from one measurement to the next: the reference run's plain heap dump. */
  shared: { heapDump?: string };
}

export type Measurement = (bench: Bench) => Promise<Row[]>;

export function createBench(input: { quick: boolean; rgw: Rgw; tmp: string; node: string; ourClient: string; bucket: string; log: (m: string) => void }): Bench {
  const { rgw, tmp } = input;
  const s3: S3Info = { endpoint: rgw.endpoint, region: rgw.region, accessKeyId: rgw.accessKeyId, secretAccessKey: rgw.secretAccessKey, bucket: input.bucket };
  const sizes = input.quick ? QUICK : FULL;
  const cleanup: string[] = [];
  const bucket = new Bucket(s3);
  return {
    quick: input.quick,
    sizes,
    tmp,
    rgw,
    s3,
    bucket,
    uploaders: new Uploaders({ s3, dir: tmp, node: input.node, ourClient: input.ourClient, timeoutMs: 600_000 }),
    node: input.node,
    ourClient: input.ourClient,
    cleanup,
    shared: {},
    log: input.log,
    storeEnv: (prefix) => ({
      POSTMORTEM_STORE: `s3://${s3.bucket}/${prefix}`,
      AWS_ENDPOINT_URL: s3.endpoint,
      AWS_ACCESS_KEY_ID: s3.accessKeyId,
      AWS_SECRET_ACCESS_KEY: s3.secretAccessKey,
      AWS_REGION: s3.region,
    }),
    async stage(options) {
      const droplet = await stage(options);
      cleanup.push(path.dirname(droplet.root));
      return droplet;
    },
    async plainDroplet(appDir) {
      const work = await mkdtemp(path.join(tmp, 'plain-'));
      const root = path.join(work, 'container');
      const home = path.join(root, 'home/vcap');
      for (const d of ['deps', 'profile.d', 'tmp']) await mkdir(path.join(home, d), { recursive: true });
      await cp(appDir, path.join(home, 'app'), { recursive: true });
      return { root, home, appDir: path.join(home, 'app'), depsDir: path.join(home, 'deps'), depsIdx: '0', stagingOutput: '', stagingRoot: work };
    },
    async compileJava(sourceDir, classes) {
      const dir = await compileJava(sourceDir, classes);
      cleanup.push(dir);
      return dir;
    },
    async purge(prefix) {
      await bucket.purge(prefix);
      await collectGarbage(rgw.cephConf);
    },
  };
}

export async function removeAll(dirs: string[]): Promise<void> {
  for (const dir of dirs) await rm(dir, { recursive: true, force: true }).catch(() => undefined);
}

export function tempRoot(): Promise<string> {
  return mkdtemp(path.join(os.tmpdir(), 'pm-bench-'));
}
