// Credentials only ever come from the bound service or AWS_* variables. A binding without
// keys is a configuration problem naming the fields; the SDK's default chain, whose last
// step asks the cloud's instance metadata for the host's role, is never consulted. The
// metadata address is pointed at a loopback listener (AWS_EC2_METADATA_SERVICE_ENDPOINT, the
// SDK's own setting) that counts connections: it must see none.
import t, { type Test } from 'tap';
import { createServer, type Server } from 'node:net';
import path from 'node:path';
import { execa } from 'execa';
import { BUILDPACK_DIR, launch, stage } from '../support/cf.ts';
import { testStore } from '../support/test-store.ts';
import { tempDir } from '../support/temp.ts';
import { createS3Store } from '../../src/store/s3-store.ts';

const store = await testStore(t, 'creds');

/** A stand-in for 169.254.169.254 that only counts who calls. */
async function metadataListener(t: Test): Promise<{ url: string; connections: () => number }> {
  let connections = 0;
  const server: Server = createServer((socket) => { connections += 1; socket.destroy(); });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const { port } = server.address() as { port: number };
  return { url: `http://127.0.0.1:${port}`, connections: () => connections };
}

/** The process environment without any AWS credentials of the machine running the tests. */
function withoutAwsKeys(): Record<string, string | undefined> {
  const env = { ...process.env };
  for (const name of ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN', 'AWS_PROFILE', 'AWS_EC2_METADATA_DISABLED', 'AWS_CONTAINER_CREDENTIALS_RELATIVE_URI', 'AWS_CONTAINER_CREDENTIALS_FULL_URI']) delete env[name];
  return env;
}

const keylessBinding = () => JSON.stringify({
  'user-provided': [{ name: 'crash-store', label: 'user-provided', tags: ['postmortem'], credentials: { bucket: store.bucket, endpoint: store.s3.endpoint, region: store.s3.region } }],
});

t.test('a binding without keys: a clear problem naming the fields; the app runs; no metadata request', async (t) => {
  const metadata = await metadataListener(t);
  const env = { VCAP_SERVICES: keylessBinding(), AWS_EC2_METADATA_SERVICE_ENDPOINT: metadata.url };
  const droplet = await stage({ appDir: await tempDir('pm-app-'), env });
  const app = launch(droplet, { command: 'echo app ran; exit 3', env });
  const result = await app.process;
  t.equal(result.exitCode, 3, 'the app ran and its status is kept');
  t.match(app.output(), /app ran/);
  t.match(app.output(), /\[postmortem\] WARNING: crash capture is off, the app runs as without the buildpack: invalid settings: service "crash-store" has no access_key_id and no secret_access_key .*add access_key_id and secret_access_key to service "crash-store"/);
  t.equal(metadata.connections(), 0, 'instance metadata never asked');
});

t.test('the CLI with a keyless binding says so and asks no metadata service', async (t) => {
  const metadata = await metadataListener(t);
  const env = { ...withoutAwsKeys(), VCAP_SERVICES: keylessBinding(), AWS_EC2_METADATA_SERVICE_ENDPOINT: metadata.url, HOME: await tempDir('pm-home-') };
  const run = await execa(path.join(BUILDPACK_DIR, 'bin/postmortem'), ['ls'], { env, extendEnv: false, reject: false });
  t.equal(run.exitCode, 1);
  t.match(run.stderr, /service "crash-store" has no access_key_id and no secret_access_key/);
  t.equal(metadata.connections(), 0);
});

t.test('a store opened without credentials fails with our error and never reaches the default chain', async (t) => {
  // Below the configuration (which refuses this target): the client itself must not fall back.
  const metadata = await metadataListener(t);
  const saved = { ...process.env };
  t.teardown(() => { process.env = saved; });
  process.env = { ...withoutAwsKeys(), AWS_EC2_METADATA_SERVICE_ENDPOINT: metadata.url, HOME: await tempDir('pm-home-') };
  const s3 = createS3Store({
    kind: 's3', bucket: store.bucket, prefix: '', endpoint: store.s3.endpoint, region: store.s3.region, forcePathStyle: true, source: 'test',
  }, { partSize: 5 * 1024 * 1024, queueSize: 1, maxAttempts: 1 });
  t.teardown(() => s3.close());
  await t.rejects(s3.head('anything'), /no credentials for the store s3:\/\/.*never used/);
  t.equal(metadata.connections(), 0, 'instance metadata never asked');
});
