// A REAL S3-compatible server for integration tests. By default s3rver, run as its own
// process on 127.0.0.1 and a free port with a throw-away data folder (a separate process
// keeps its memory out of the tests' RSS figures and exercises real HTTP like RGW would).
// With POSTMORTEM_TEST_S3_ENDPOINT (+ AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, optional
// POSTMORTEM_TEST_S3_REGION) set, an already-running server (e.g. Ceph RGW) is used instead.
//
// kind 'rgw' is always the Ceph RADOS Gateway of this test run (test/support/rgw/shared.ts:
// started once by tap's before-script), or, for a test file run on its own, one started for
// that file; the environment's external server does not replace it, since RGW tests also look
// behind the S3 API. Throws RgwUnavailableError when Ceph is not installed.
import { BucketAlreadyOwnedByYou, CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { S3Target } from '../../src/config/types.ts';
import { RgwUnavailableError, startRgw } from './rgw.ts';
import { readSharedRgw } from './rgw/shared.ts';
import { isCi } from './requirements.ts';

/** Local servers this helper can start. */
export type S3ServerKind = 's3rver' | 'rgw';
/** 'best': the run's Ceph RGW when there is one, s3rver otherwise (never in CI: there RGW is required). */
export type S3ServerChoice = S3ServerKind | 'best';

export interface S3TestServer {
  /** What is actually serving: a server we started, or the one named by the environment. */
  kind: S3ServerKind | 'external';
  endpoint: string;
  region: string;
  accessKeyId: string;
  secretAccessKey: string;
  forcePathStyle: boolean;
  /** Data folder of a server we started, for tests that look behind the API. */
  dataDir?: string;
  /** rgw: the cluster's ceph.conf, for the Ceph CLIs (`rados --conf …`). */
  cephConf?: string;
  /** rgw: an SSE-KMS key id its built-in "testing" KMS knows. */
  kmsKeyId?: string;
  /** Creates the bucket; an existing bucket of ours is fine (external servers are reused). */
  createBucket(name: string): Promise<void>;
  /** An S3Target for this server, as src/config would produce it. */
  target(bucket: string, overrides?: Partial<S3Target>): S3Target;
  stop(): Promise<void>;
}

export interface StartS3ServerOptions {
  kind?: S3ServerChoice;
  /** Defaults to process.env; tests are a boundary like src/entry. */
  env?: Readonly<Record<string, string | undefined>>;
}

/** s3rver's built-in account. */
const S3RVER_KEY = 'S3RVER';

/** Bucket names unique per run, so an external server can be reused between runs. */
export function uniqueBucketName(base: string): string {
  return `${base}-${randomBytes(4).toString('hex')}`.toLowerCase().slice(0, 63);
}

export async function startS3Server(options: StartS3ServerOptions = {}): Promise<S3TestServer> {
  const env = options.env ?? process.env;
  const kind = options.kind ?? 's3rver';
  if (kind === 'rgw') return useRgw();
  if (kind === 'best') {
    try {
      return await useRgw();
    } catch (error) {
      if (!(error instanceof RgwUnavailableError) || isCi(env)) throw error;
    }
  }
  const external = env['POSTMORTEM_TEST_S3_ENDPOINT'];
  if (external) {
    const accessKeyId = env['AWS_ACCESS_KEY_ID'];
    const secretAccessKey = env['AWS_SECRET_ACCESS_KEY'];
    if (!accessKeyId || !secretAccessKey) {
      throw new Error('POSTMORTEM_TEST_S3_ENDPOINT is set: also set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY');
    }
    const region = env['POSTMORTEM_TEST_S3_REGION'] ?? 'us-east-1';
    return serverHandle({ kind: 'external', endpoint: external, region, accessKeyId, secretAccessKey }, async () => {});
  }
  return startS3rver();
}

/** The run's shared RGW; stopping it is the after-script's job, so stop() leaves it running. */
async function useRgw(): Promise<S3TestServer> {
  const shared = await readSharedRgw();
  if (shared?.status === 'unavailable') throw new RgwUnavailableError(shared.reason);
  if (shared?.status === 'failed') throw new Error(`the test run's Ceph RGW failed to start: ${shared.reason}`);
  const rgw = shared?.status === 'ready' ? { ...shared.rgw, stop: async () => {} } : await startRgw();
  const { endpoint, region, accessKeyId, secretAccessKey, dir, cephConf, kmsKeyId } = rgw;
  return serverHandle({ kind: 'rgw', endpoint, region, accessKeyId, secretAccessKey, dataDir: dir, cephConf, kmsKeyId }, rgw.stop);
}

async function startS3rver(): Promise<S3TestServer> {
  const dataDir = await mkdtemp(path.join(tmpdir(), 'postmortem-s3rver-'));
  const bin = path.join(path.dirname(createRequire(import.meta.url).resolve('s3rver/package.json')), 'bin', 's3rver.js');
  const child = spawn(process.execPath, [bin, '--directory', dataDir, '--address', '127.0.0.1', '--port', '0', '--silent'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let port: number;
  try {
    port = await listeningPort(child);
  } catch (error) {
    child.kill('SIGKILL');
    await rm(dataDir, { recursive: true, force: true });
    throw error;
  }
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    }
    await rm(dataDir, { recursive: true, force: true });
  };
  const endpoint = `http://127.0.0.1:${port}`;
  return serverHandle({ kind: 's3rver', endpoint, region: 'us-east-1', accessKeyId: S3RVER_KEY, secretAccessKey: S3RVER_KEY, dataDir }, stop);
}

/** s3rver's CLI prints "S3rver listening on 127.0.0.1:<port>" once it accepts connections. */
function listeningPort(child: ChildProcess): Promise<number> {
  return new Promise((resolve, reject) => {
    let output = '';
    const timer = setTimeout(() => reject(new Error(`s3rver did not start within 20 s: ${output}`)), 20_000);
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      const match = /listening on [^\s:]+:(\d+)/.exec(output);
      if (match) {
        clearTimeout(timer);
        child.stdout?.off('data', onData);
        child.stdout?.resume();
        resolve(Number(match[1]));
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`s3rver exited with ${String(code)} before listening: ${output}`));
    });
  });
}

interface Endpoint {
  kind: S3TestServer['kind'];
  endpoint: string;
  region: string;
  accessKeyId: string;
  secretAccessKey: string;
  dataDir?: string;
  cephConf?: string;
  kmsKeyId?: string;
}

function serverHandle(e: Endpoint, stop: () => Promise<void>): S3TestServer {
  const target = (bucket: string, overrides: Partial<S3Target> = {}): S3Target => ({
    kind: 's3',
    bucket,
    prefix: '',
    endpoint: e.endpoint,
    region: e.region,
    forcePathStyle: true,
    credentials: { accessKeyId: e.accessKeyId, secretAccessKey: e.secretAccessKey },
    source: `test S3 server (${e.kind})`,
    ...overrides,
  });
  const createBucket = async (name: string): Promise<void> => {
    const client = new S3Client({
      region: e.region,
      endpoint: e.endpoint,
      forcePathStyle: true,
      credentials: { accessKeyId: e.accessKeyId, secretAccessKey: e.secretAccessKey },
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
    });
    try {
      await client.send(new CreateBucketCommand({ Bucket: name }));
    } catch (error) {
      if (!(error instanceof BucketAlreadyOwnedByYou)) throw error;
    } finally {
      client.destroy();
    }
  };
  return { ...e, forcePathStyle: true, createBucket, target, stop };
}
