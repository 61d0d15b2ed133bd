// `npm run demo`: the whole product on one machine. Starts an embedded S3 server, stages a
// sample Java app with this buildpack as Cloud Foundry would, launches it the way Diego
// does, lets it run out of heap, and then browses the evidence with the postmortem CLI.
import path from 'node:path';
import { execa } from 'execa';
import { launch, stage, BUILDPACK_DIR } from '../test/support/cf.ts';
import { compileJava } from '../test/support/java.ts';
import { startS3Server } from '../test/support/s3-server.ts';

const say = (text: string) => process.stdout.write(`\n\x1b[1m== ${text}\x1b[0m\n`);

say('starting an embedded S3 server (s3rver) on loopback');
const s3 = await startS3Server();
try {
  await s3.createBucket('crash-dumps');
  const storeEnv = {
    POSTMORTEM_STORE: 's3://crash-dumps/demo',
    AWS_ENDPOINT_URL: s3.endpoint,
    AWS_ACCESS_KEY_ID: s3.accessKeyId,
    AWS_SECRET_ACCESS_KEY: s3.secretAccessKey,
    AWS_REGION: s3.region,
  };
  process.stdout.write(`store: s3://crash-dumps/demo at ${s3.endpoint}\n`);

  say('cf push: staging the sample app (buildpacks: [postmortem_buildpack, java_buildpack])');
  const appDir = await compileJava(path.join(BUILDPACK_DIR, 'demo/app'), ['Inventory']);
  const droplet = await stage({ appDir, env: storeEnv });
  process.stdout.write(droplet.stagingOutput);

  say('the instance starts (launcher -> profile.d -> watchdog -> java) and runs out of heap');
  const app = launch(droplet, {
    command: 'java -Xmx256m -cp . Inventory',
    env: { ...storeEnv, POSTMORTEM_GRACE: '5s' },
    echo: (chunk) => process.stdout.write(chunk),
  });
  const result = await app.process;
  process.stdout.write(`instance exited with status ${result.exitCode} (the JVM's own)\n`);

  const cli = async (...args: string[]) => {
    process.stdout.write(`\n$ postmortem ${args.join(' ')}\n`);
    const r = await execa(path.join(BUILDPACK_DIR, 'bin/postmortem'), args, { env: { ...process.env, ...storeEnv }, reject: false, all: true });
    process.stdout.write(`${r.all}\n`);
    return r;
  };
  say('browsing the evidence with the postmortem CLI');
  const listed = await cli('ls', '--json');
  const crashes = JSON.parse(listed.stdout) as { crash: string }[];
  await cli('ls');
  const crash = crashes[0]?.crash;
  if (!crash) throw new Error('no crash found in the store');
  await cli('show', crash);
  const out = path.join(BUILDPACK_DIR, 'demo', 'out');
  await cli('get', crash, '--out', path.join(out, path.basename(crash)));
  say(`done: the evidence is in ${path.relative(process.cwd(), out) || out}/ (the staged droplet is removed on exit)`);
} finally {
  await s3.stop();
}
