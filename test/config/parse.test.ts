import t from 'tap';
import { DEFAULTS, collectSecrets, isDisabled, parseConfig } from '../../src/config/parse.ts';
import { ConfigError, type Env, type S3Target } from '../../src/config/types.ts';
import { LAUNCH_ENV, SECRETS, vcapServices } from './fixtures.ts';

/** Problems parseConfig throws for `env` (on top of a real launch environment). */
function problemsOf(env: Env): readonly string[] {
  try {
    parseConfig({ ...LAUNCH_ENV, ...env });
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  return [];
}

function parse(env: Env) {
  return parseConfig({ ...LAUNCH_ENV, ...env });
}

function s3(env: Env): S3Target {
  const { store } = parse(env).config;
  if (store.kind !== 's3') throw new Error(`expected an S3 target, got ${JSON.stringify(store)}`);
  return store;
}

const AWS_ENV = { AWS_ACCESS_KEY_ID: 'AKIAENV', AWS_SECRET_ACCESS_KEY: SECRETS.env };

t.test('defaults: nothing configured keeps evidence in the container, loudly', async (t) => {
  const { config, warnings } = parseConfig(LAUNCH_ENV);
  t.same(config.store, {
    kind: 'file',
    root: '/home/vcap/tmp/postmortem/store',
    prefix: '',
    source: 'fallback (no store configured)',
  });
  t.equal(config.storeIsFallback, true);
  t.equal(config.dumpDir, '/home/vcap/tmp/postmortem');
  t.equal(config.graceMs, 30_000);
  t.equal(config.gzipLevel, 1);
  t.equal(config.java, true);
  t.equal(config.partSize, 8 * 1024 * 1024);
  t.equal(config.queueSize, 4);
  t.equal(config.logTailBytes, 256 * 1024);
  t.equal(config.uploadTimeoutMs, 15 * 60_000);
  t.same(
    { ...DEFAULTS },
    {
      graceMs: config.graceMs,
      uploadTimeoutMs: config.uploadTimeoutMs,
      gzipLevel: config.gzipLevel,
      compression: config.compression,
      java: config.java,
      dumpCompression: config.dumpCompression,
      punchHoles: config.punchHoles,
      dumpDiskLimit: config.dumpDiskLimit,
      histogramThread: config.histogramThread,
      partSize: config.partSize,
      queueSize: config.queueSize,
      logTailBytes: config.logTailBytes,
      threadDumpOnStop: config.threadDumpOnStop,
      maxDumps: config.maxDumps,
      dumpWindowMs: config.dumpWindowMs,
      postStopTimeoutMs: config.postStopTimeoutMs,
      stopDeadlineMs: config.stopDeadlineMs,
      progressEveryMs: config.progressEveryMs,
      memoryReserve: config.memoryReserve,
    },
  );
  t.same(config.appFiles, [], 'no app files unless asked');
  t.equal(config.postStopCommand, undefined);
  t.equal(warnings.length, 1);
  t.match(warnings[0], /No store is configured/);
  t.match(warnings[0], /POSTMORTEM_STORE/);
  t.match(warnings[0], /tagged "postmortem"/);
  t.match(warnings[0], /grace period/);
});

t.test('dump folder: TMPDIR, then opts.defaultTmp, then /tmp; POSTMORTEM_DUMP_DIR wins', async (t) => {
  t.equal(parseConfig({}).config.dumpDir, '/tmp/postmortem');
  t.equal(parseConfig({}, { defaultTmp: '/var/tmp' }).config.dumpDir, '/var/tmp/postmortem');
  t.equal(parseConfig({ TMPDIR: '/home/vcap/tmp/' }, { defaultTmp: '/var/tmp' }).config.dumpDir, '/home/vcap/tmp/postmortem');
  t.equal(parseConfig({ TMPDIR: 'relative' }, { defaultTmp: '/var/tmp' }).config.dumpDir, '/var/tmp/postmortem');
  const custom = parseConfig({ POSTMORTEM_DUMP_DIR: '/home/vcap/app/dumps//' }).config;
  t.equal(custom.dumpDir, '/home/vcap/app/dumps');
  t.equal(custom.store.kind === 'file' && custom.store.root, '/home/vcap/app/dumps/store');
  t.match(problemsOf({ POSTMORTEM_DUMP_DIR: 'dumps' }), [/^POSTMORTEM_DUMP_DIR is "dumps": expected an absolute path/]);
});

t.test('the result is deep-frozen', async (t) => {
  const { config } = parse({ POSTMORTEM_STORE: 's3://dumps', ...AWS_ENV });
  t.ok(Object.isFrozen(config));
  t.ok(Object.isFrozen(config.store));
  t.ok(Object.isFrozen(config.app));
  t.ok(config.store.kind === 's3' && Object.isFrozen(config.store.credentials));
  t.throws(() => {
    (config as { graceMs: number }).graceMs = 1;
  }, TypeError);
  t.throws(() => {
    (config.app as { name: string }).name = 'x';
  }, TypeError);
});

t.test('POSTMORTEM_STORE=s3:// with AWS_* variables', async (t) => {
  t.same(s3({ POSTMORTEM_STORE: 's3://crash-dumps/team-a/', AWS_REGION: 'eu-central-1', ...AWS_ENV }), {
    kind: 's3',
    bucket: 'crash-dumps',
    prefix: 'team-a',
    region: 'eu-central-1',
    forcePathStyle: false,
    source: 'POSTMORTEM_STORE',
    credentials: { accessKeyId: 'AKIAENV', secretAccessKey: SECRETS.env },
  });
  const withToken = s3({ POSTMORTEM_STORE: 'S3://b1b//x//y', ...AWS_ENV, AWS_SESSION_TOKEN: SECRETS.token });
  t.equal(withToken.prefix, 'x/y');
  t.same(withToken.credentials, { accessKeyId: 'AKIAENV', secretAccessKey: SECRETS.env, sessionToken: SECRETS.token });
  t.equal(parse({ POSTMORTEM_STORE: 's3://dumps', ...AWS_ENV }).config.storeIsFallback, false);
});

t.test('region: binding, AWS_REGION, AWS_DEFAULT_REGION, us-east-1', async (t) => {
  t.equal(s3({ POSTMORTEM_STORE: 's3://dumps', ...AWS_ENV }).region, 'us-east-1');
  t.equal(s3({ POSTMORTEM_STORE: 's3://dumps', AWS_DEFAULT_REGION: 'ap-south-1', ...AWS_ENV }).region, 'ap-south-1');
  t.equal(s3({ POSTMORTEM_STORE: 's3://dumps', AWS_DEFAULT_REGION: 'ap-south-1', AWS_REGION: 'eu-west-3', ...AWS_ENV }).region, 'eu-west-3');
  const services = vcapServices({
    name: 'dumps',
    tags: ['postmortem'],
    credentials: { bucket: 'dumps', region: 'sa-east-1', access_key_id: 'K', secret_access_key: SECRETS.generic },
  });
  t.equal(s3({ VCAP_SERVICES: services, AWS_REGION: 'eu-west-3' }).region, 'sa-east-1');
});

t.test('no credentials, even for AWS: a problem, never the SDK default chain (instance metadata)', async (t) => {
  const problems = problemsOf({ POSTMORTEM_STORE: 's3://dumps' });
  t.equal(problems.length, 1);
  t.match(problems[0], /^POSTMORTEM_STORE has no credentials \(AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not set\).*never used.*Fix: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY/);
  const profile = s3({ POSTMORTEM_STORE: 's3://dumps', AWS_PROFILE: 'ops' });
  t.equal(profile.profile, 'ops', 'AWS_PROFILE (an AWS_* variable) names a shared-credentials profile');
  t.equal(profile.credentials, undefined);
});

t.test('endpoint from AWS_ENDPOINT_URL_S3, else AWS_ENDPOINT_URL; path style follows', async (t) => {
  const one = s3({ POSTMORTEM_STORE: 's3://dumps', AWS_ENDPOINT_URL: 'http://localhost:4568/', ...AWS_ENV });
  t.equal(one.endpoint, 'http://localhost:4568');
  t.equal(one.forcePathStyle, true);
  const both = s3({
    POSTMORTEM_STORE: 's3://dumps',
    AWS_ENDPOINT_URL: 'http://generic:1',
    AWS_ENDPOINT_URL_S3: 'https://rgw.example.com:7480',
    ...AWS_ENV,
  });
  t.equal(both.endpoint, 'https://rgw.example.com:7480');
  const aws = s3({ POSTMORTEM_STORE: 's3://dumps', AWS_ENDPOINT_URL_S3: 'https://s3.eu-west-1.amazonaws.com', ...AWS_ENV });
  t.equal(aws.forcePathStyle, false, 'Amazon endpoints keep virtual-host addressing');
  t.match(problemsOf({ POSTMORTEM_STORE: 's3://dumps', AWS_ENDPOINT_URL: 's3.example.com', ...AWS_ENV }), [
    /^AWS_ENDPOINT_URL is "s3.example.com": expected an http\(s\) URL/,
  ]);
});

t.test('POSTMORTEM_S3_PATH_STYLE overrides the default', async (t) => {
  const base = { POSTMORTEM_STORE: 's3://dumps', AWS_ENDPOINT_URL: 'https://rgw:7480', ...AWS_ENV };
  t.equal(s3({ ...base, POSTMORTEM_S3_PATH_STYLE: 'false' }).forcePathStyle, false);
  t.equal(s3({ POSTMORTEM_STORE: 's3://dumps', POSTMORTEM_S3_PATH_STYLE: 'YES', ...AWS_ENV }).forcePathStyle, true);
  t.match(problemsOf({ ...base, POSTMORTEM_S3_PATH_STYLE: 'sometimes' }), [/^POSTMORTEM_S3_PATH_STYLE is "sometimes"/]);
});

t.test('a non-AWS endpoint without credentials is a problem naming the fix', async (t) => {
  const problems = problemsOf({ POSTMORTEM_STORE: 's3://dumps', AWS_ENDPOINT_URL: 'https://rgw.example.com' });
  t.equal(problems.length, 1);
  t.match(problems[0], /^POSTMORTEM_STORE has no credentials/);
  t.match(problems[0], /Fix: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY/);

  const fromService = problemsOf({
    VCAP_SERVICES: vcapServices({ name: 'rgw-store', tags: ['postmortem'], credentials: { bucket: 'dumps', endpoint: 'rgw.internal' } }),
  });
  t.equal(fromService.length, 1);
  t.match(fromService[0], /^service "rgw-store" has no access_key_id and no secret_access_key.*add access_key_id and secret_access_key to service "rgw-store"/);
});

t.test('only one of the AWS key pair is a problem', async (t) => {
  t.match(problemsOf({ POSTMORTEM_STORE: 's3://dumps', AWS_ACCESS_KEY_ID: 'AKIA' }), [
    /^AWS_SECRET_ACCESS_KEY is not set while AWS_ACCESS_KEY_ID is set.*Fix: /,
  ]);
  const problems = problemsOf({ POSTMORTEM_STORE: 's3://dumps', AWS_SECRET_ACCESS_KEY: SECRETS.env });
  t.match(problems, [/^AWS_ACCESS_KEY_ID is not set while AWS_SECRET_ACCESS_KEY is set/]);
  t.notOk(problems.join().includes(SECRETS.env));
});

t.test('POSTMORTEM_STORE=file:// is a local folder; services are not consulted', async (t) => {
  const { config, warnings } = parse({
    POSTMORTEM_STORE: 'file:///home/vcap/app/my%20dumps/',
    POSTMORTEM_SERVICE: 'nope',
    POSTMORTEM_SSE: 'AES256',
    VCAP_SERVICES: vcapServices({ name: 'postmortem-a', credentials: {} }, { name: 'postmortem-b', credentials: {} }),
  });
  t.same(config.store, { kind: 'file', root: '/home/vcap/app/my dumps', prefix: '', source: 'POSTMORTEM_STORE' });
  t.equal(config.storeIsFallback, false);
  t.match(warnings, [/POSTMORTEM_SERVICE is ignored/, /POSTMORTEM_SSE is ignored/]);
  t.same(parse({ POSTMORTEM_STORE: 'file://localhost/srv/x' }).config.store, {
    kind: 'file',
    root: '/srv/x',
    prefix: '',
    source: 'POSTMORTEM_STORE',
  });
});

t.test('invalid POSTMORTEM_STORE values', async (t) => {
  const cases: [string, RegExp][] = [
    ['https://s3.example.com/dumps', /expected s3:\/\/bucket\[\/prefix\] or file:\/\/\/absolute\/path.*AWS_ENDPOINT_URL/],
    ['s3://', /with a bucket name/],
    ['s3:///prefix', /with a bucket name/],
    ['s3://b', /bucket name of 3 to 255/],
    ['s3://dumps/x?versionId=1', /without query/],
    ['file://relative/path', /three slashes/],
    ['file:relative', /three slashes/],
    ['/home/vcap/dumps', /Fix: write it as file:\/\/\/home\/vcap\/dumps/],
    ['dumps', /expected s3:\/\/bucket/],
    [`s3://AKIA:${SECRETS.env}@rgw.example.com/dumps`, /without credentials or host/],
  ];
  for (const [value, expected] of cases) {
    const problems = problemsOf({ POSTMORTEM_STORE: value, ...AWS_ENV });
    t.equal(problems.length, 1, value);
    t.match(problems[0], /^POSTMORTEM_STORE is "/, value);
    t.match(problems[0], expected, value);
    t.match(problems[0], /Fix: /, value);
    t.notOk(problems[0]?.includes(SECRETS.env), 'never echoes the secret');
  }
});

t.test('a service tagged postmortem is the store when POSTMORTEM_STORE is unset', async (t) => {
  const { config, warnings } = parse({
    VCAP_SERVICES: vcapServices(
      { name: 'db', label: 'postgres', credentials: { uri: `postgres://u:${SECRETS.generic}@db/x` } },
      {
        name: 'crash-store',
        label: 'minio',
        tags: ['postmortem'],
        credentials: { endpoint_url: 'http://minio.internal:9000', accessKey: 'mu', secretKey: SECRETS.minio, bucket: 'dumps' },
      },
    ),
  });
  t.same(warnings, []);
  t.equal(config.storeIsFallback, false);
  t.same(config.store, {
    kind: 's3',
    bucket: 'dumps',
    prefix: '',
    region: 'us-east-1',
    forcePathStyle: true,
    source: 'service "crash-store"',
    endpoint: 'http://minio.internal:9000',
    credentials: { accessKeyId: 'mu', secretAccessKey: SECRETS.minio },
  });
});

t.test('a store service without a bucket needs POSTMORTEM_STORE', async (t) => {
  const services = vcapServices({
    name: 'rgw',
    tags: ['postmortem'],
    credentials: { endpoint: 'https://rgw.example.com', access_key: 'rk', secret_key: SECRETS.rgw },
  });
  t.match(problemsOf({ VCAP_SERVICES: services }), [/^service "rgw" \(VCAP_SERVICES\) has credentials without a bucket.*POSTMORTEM_STORE=s3:\/\//]);
  const target = s3({ VCAP_SERVICES: services, POSTMORTEM_STORE: 's3://any-bucket/p' });
  t.equal(target.bucket, 'any-bucket');
  t.equal(target.prefix, 'p');
  t.equal(target.endpoint, 'https://rgw.example.com');
  t.same(target.credentials, { accessKeyId: 'rk', secretAccessKey: SECRETS.rgw });
  t.equal(target.source, 'POSTMORTEM_STORE with service "rgw"');
});

t.test('POSTMORTEM_STORE with a service for the same bucket: URL names, service supplies', async (t) => {
  const services = vcapServices({
    name: 'ecs',
    label: 'ecs-bucket',
    credentials: { endpoint: 'https://ecs.example.com:9021', accessKey: 'ek', secretKey: SECRETS.ecs, bucket: 'dumps', prefix: 'svc' },
  });
  const target = s3({ VCAP_SERVICES: services, POSTMORTEM_STORE: 's3://dumps/team-a', ...AWS_ENV, AWS_REGION: 'eu-west-3' });
  t.equal(target.prefix, 'team-a', "the URL's prefix");
  t.equal(target.endpoint, 'https://ecs.example.com:9021');
  t.same(target.credentials, { accessKeyId: 'ek', secretAccessKey: SECRETS.ecs }, 'service credentials win over AWS_*');
  t.equal(target.region, 'eu-west-3', 'the service has no region, AWS_REGION fills in');
});

t.test('POSTMORTEM_STORE with a service for another bucket: service ignored, warned', async (t) => {
  const services = vcapServices({
    name: 'ecs',
    label: 'ecs-bucket',
    credentials: { endpoint: 'https://ecs.example.com', accessKey: 'ek', secretKey: SECRETS.ecs, bucket: 'other' },
  });
  const { config, warnings } = parse({ VCAP_SERVICES: services, POSTMORTEM_STORE: 's3://dumps', ...AWS_ENV });
  t.equal(config.store.kind === 's3' && config.store.endpoint, undefined);
  t.same(config.store.kind === 's3' && config.store.credentials, { accessKeyId: 'AKIAENV', secretAccessKey: SECRETS.env });
  t.equal(config.store.source, 'POSTMORTEM_STORE');
  t.match(warnings, [/Service "ecs" is not used: it is for bucket "other" but POSTMORTEM_STORE names bucket "dumps"/]);
});

t.test('a service without credentials falls back to AWS_* credentials', async (t) => {
  const services = vcapServices({ name: 'postmortem', credentials: { bucket: 'dumps', endpoint: 'rgw.internal', port: 7480, use_ssl: false } });
  const target = s3({ VCAP_SERVICES: services, ...AWS_ENV });
  t.equal(target.endpoint, 'http://rgw.internal:7480');
  t.same(target.credentials, { accessKeyId: 'AKIAENV', secretAccessKey: SECRETS.env });
});

t.test('encryption, storage class and ACL', async (t) => {
  const base = { POSTMORTEM_STORE: 's3://dumps', ...AWS_ENV };
  const target = s3({
    ...base,
    POSTMORTEM_SSE: 'aws:kms',
    POSTMORTEM_SSE_KMS_KEY_ID: 'arn:aws:kms:eu-west-1:111122223333:key/abcd',
    POSTMORTEM_STORAGE_CLASS: 'standard_ia',
    POSTMORTEM_ACL: 'bucket-owner-full-control',
  });
  t.equal(target.serverSideEncryption, 'aws:kms');
  t.equal(target.kmsKeyId, 'arn:aws:kms:eu-west-1:111122223333:key/abcd');
  t.equal(target.storageClass, 'STANDARD_IA');
  t.equal(target.acl, 'bucket-owner-full-control');
  t.equal(s3({ ...base, POSTMORTEM_SSE: 'aes256' }).serverSideEncryption, 'AES256');
  for (const storageClass of ['STANDARD', 'ONEZONE_IA', 'INTELLIGENT_TIERING', 'GLACIER_IR', 'REDUCED_REDUNDANCY']) {
    t.equal(s3({ ...base, POSTMORTEM_STORAGE_CLASS: storageClass }).storageClass, storageClass);
  }
  const rgw = s3({ ...base, AWS_ENDPOINT_URL: 'https://rgw:7480', POSTMORTEM_STORAGE_CLASS: 'cold_hdd' });
  t.equal(rgw.storageClass, 'COLD_HDD', 'non-AWS stores have their own classes');

  t.match(problemsOf({ ...base, POSTMORTEM_SSE: 'AES128' }), [/^POSTMORTEM_SSE is "AES128": expected one of AES256, aws:kms/]);
  t.match(problemsOf({ ...base, POSTMORTEM_SSE_KMS_KEY_ID: 'k' }), [/^POSTMORTEM_SSE_KMS_KEY_ID.*POSTMORTEM_SSE=aws:kms/]);
  t.match(problemsOf({ ...base, POSTMORTEM_SSE: 'AES256', POSTMORTEM_SSE_KMS_KEY_ID: 'k' }), [/POSTMORTEM_SSE is "AES256"/]);
  t.match(problemsOf({ ...base, POSTMORTEM_STORAGE_CLASS: 'COLD_HDD' }), [/^POSTMORTEM_STORAGE_CLASS is "COLD_HDD"/]);
  t.match(problemsOf({ ...base, POSTMORTEM_ACL: 'public-read' }), [/^POSTMORTEM_ACL is "public-read".*heap dumps/]);
  t.match(problemsOf({ ...base, POSTMORTEM_ACL: 'owner-only' }), [/^POSTMORTEM_ACL is "owner-only": expected one of private/]);
});

t.test('numbers, durations, sizes and booleans', async (t) => {
  const { config } = parse({
    POSTMORTEM_GRACE: '2m',
    POSTMORTEM_UPLOAD_TIMEOUT: '1h',
    POSTMORTEM_GZIP_LEVEL: '0',
    POSTMORTEM_JAVA: 'No',
    POSTMORTEM_PART_SIZE: '16MiB',
    POSTMORTEM_QUEUE_SIZE: '2',
    POSTMORTEM_LOG_TAIL: '64k',
  });
  t.equal(config.graceMs, 120_000);
  t.equal(config.uploadTimeoutMs, 3_600_000);
  t.equal(config.gzipLevel, 0);
  t.equal(config.java, false);
  t.equal(config.partSize, 16 * 1024 * 1024);
  t.equal(config.queueSize, 2);
  t.equal(config.logTailBytes, 64 * 1024);
  t.equal(parse({ POSTMORTEM_GRACE: '45' }).config.graceMs, 45_000, 'plain number = seconds');
  t.equal(parse({ POSTMORTEM_GRACE: '0' }).config.graceMs, 0);
  t.equal(parse({ POSTMORTEM_GRACE: '' }).config.graceMs, 30_000, 'blank = unset');
  t.equal(parse({ POSTMORTEM_PART_SIZE: '5242880' }).config.partSize, 5 * 1024 * 1024, 'plain number = bytes');
  for (const word of ['true', 'TRUE', '1', 'yes', 'Yes']) t.equal(parse({ POSTMORTEM_JAVA: word }).config.java, true, word);
  for (const word of ['false', 'False', '0', 'no', 'NO']) t.equal(parse({ POSTMORTEM_JAVA: word }).config.java, false, word);
});

t.test('POSTMORTEM_STOP_DEADLINE: 9 s by default, never past Diego\'s SIGKILL at 10 s', async (t) => {
  t.equal(parse({}).config.stopDeadlineMs, 9000);
  t.equal(parse({ POSTMORTEM_STOP_DEADLINE: '7s' }).config.stopDeadlineMs, 7000);
  t.equal(parse({ POSTMORTEM_STOP_DEADLINE: '10' }).config.stopDeadlineMs, 10_000);
  for (const bad of ['15s', '11', '1s', 'soon']) {
    const error = (() => { try { parse({ POSTMORTEM_STOP_DEADLINE: bad }); return undefined; } catch (e) { return e as Error; } })();
    t.match(error?.message, /POSTMORTEM_STOP_DEADLINE/, `${bad}: a problem naming the setting`);
    t.match(error?.message, /from 3s to 10s/, `${bad}: and the allowed range`);
  }
});

t.test('POSTMORTEM_COMPRESSION: gzip unless set, zstd in any case, anything else an error naming it and the fix', async (t) => {
  t.equal(parseConfig(LAUNCH_ENV).config.compression, 'gzip', 'default gzip');
  t.equal(parseConfig({ ...LAUNCH_ENV, POSTMORTEM_COMPRESSION: ' ' }).config.compression, 'gzip', 'blank is unset');
  t.equal(parseConfig({ ...LAUNCH_ENV, POSTMORTEM_COMPRESSION: 'ZSTD' }).config.compression, 'zstd');
  t.equal(parseConfig({ ...LAUNCH_ENV, POSTMORTEM_COMPRESSION: 'gzip' }).config.compression, 'gzip');
  const error = t.throws(() => parseConfig({ ...LAUNCH_ENV, POSTMORTEM_COMPRESSION: 'zstd:19' })) as ConfigError;
  t.same(error.problems, ['POSTMORTEM_COMPRESSION is "zstd:19": expected one of gzip, zstd. Fix: set POSTMORTEM_COMPRESSION to one of those values, or remove it for the default gzip.']);
});

t.test('POSTMORTEM_DUMP_DISK_LIMIT: 256 MiB unless set, 0 turns pacing off, under 64 MiB an error naming the fix', async (t) => {
  t.equal(parse({}).config.dumpDiskLimit, 256 * 1024 * 1024, 'default 256 MiB');
  t.equal(parse({ POSTMORTEM_DUMP_DISK_LIMIT: '0' }).config.dumpDiskLimit, 0, '0: never pause the writer');
  t.equal(parse({ POSTMORTEM_DUMP_DISK_LIMIT: '1GiB' }).config.dumpDiskLimit, 1024 ** 3);
  t.equal(parse({ POSTMORTEM_DUMP_DISK_LIMIT: '64MiB' }).config.dumpDiskLimit, 64 * 1024 * 1024, 'the smallest allowed');
  t.same(problemsOf({ POSTMORTEM_DUMP_DISK_LIMIT: '16MiB' }), [
    'POSTMORTEM_DUMP_DISK_LIMIT is "16MiB": expected 0 (never pause the dump\'s writer) or at least 64MiB. Fix: set POSTMORTEM_DUMP_DISK_LIMIT to 0 or to 64MiB or more, or remove it for the default 256 MiB.',
  ]);
  t.match(problemsOf({ POSTMORTEM_DUMP_DISK_LIMIT: 'lots' }), [/^POSTMORTEM_DUMP_DISK_LIMIT is "lots": expected a size/]);
});

t.test('every bad value is reported, all at once, each naming setting, value and fix', async (t) => {
  const env: Env = {
    POSTMORTEM_GRACE: '2h',
    POSTMORTEM_UPLOAD_TIMEOUT: 'soon',
    POSTMORTEM_GZIP_LEVEL: '11',
    POSTMORTEM_COMPRESSION: 'brotli',
    POSTMORTEM_JAVA: 'maybe',
    POSTMORTEM_DISABLE: 'perhaps',
    POSTMORTEM_DUMP_DIR: 'tmp/dumps',
    POSTMORTEM_PART_SIZE: '1MiB',
    POSTMORTEM_QUEUE_SIZE: '0',
    POSTMORTEM_LOG_TAIL: '1GiB',
    POSTMORTEM_STORE: 's3://dumps',
    POSTMORTEM_SSE: 'rot13',
    POSTMORTEM_ACL: 'public-read-write',
    POSTMORTEM_STORAGE_CLASS: 'FAST',
    AWS_SECRET_ACCESS_KEY: SECRETS.env,
    AWS_SESSION_TOKEN: SECRETS.token,
  };
  let error: unknown;
  try {
    parseConfig({ ...LAUNCH_ENV, ...env });
  } catch (e) {
    error = e;
  }
  t.type(error, ConfigError);
  const problems = (error as ConfigError).problems;
  const settings = [
    'POSTMORTEM_GRACE',
    'POSTMORTEM_UPLOAD_TIMEOUT',
    'POSTMORTEM_GZIP_LEVEL',
    'POSTMORTEM_COMPRESSION',
    'POSTMORTEM_JAVA',
    'POSTMORTEM_DISABLE',
    'POSTMORTEM_DUMP_DIR',
    'POSTMORTEM_PART_SIZE',
    'POSTMORTEM_QUEUE_SIZE',
    'POSTMORTEM_LOG_TAIL',
    'POSTMORTEM_SSE',
    'POSTMORTEM_ACL',
    'POSTMORTEM_STORAGE_CLASS',
    'AWS_ACCESS_KEY_ID',
  ];
  t.equal(problems.length, settings.length, problems.join('\n'));
  for (const setting of settings) {
    const message = problems.find((p) => p.startsWith(`${setting} is `));
    t.ok(message, `${setting} reported`);
    t.match(message, /: expected .+\. Fix: .+\.$/, `${setting} says what was expected and the fix`);
  }
  t.match(problems.find((p) => p.startsWith('POSTMORTEM_GRACE')), /"2h": expected a duration from 0s to 1h/);
  t.match(problems.find((p) => p.startsWith('POSTMORTEM_PART_SIZE')), /"1MiB": expected a size from 5 MiB to 512 MiB.*default 8 MiB/);
  t.match(problems.find((p) => p.startsWith('POSTMORTEM_UPLOAD_TIMEOUT')), /"soon": expected a duration such as/);
  t.equal((error as ConfigError).message, problems.join('; '));
  const text = problems.join('\n');
  t.notOk(text.includes(SECRETS.env));
  t.notOk(text.includes(SECRETS.token));
});

t.test('no secret ever appears in a problem or warning', async (t) => {
  const serviceWith = (credentials: Record<string, unknown>, name = 'postmortem-store') =>
    vcapServices({ name, credentials }, { name: 'db', label: 'postgres', credentials: { password: SECRETS.generic } });
  const scenarios: Env[] = [
    { POSTMORTEM_STORE: `s3://AKIA:${SECRETS.env}@host/b` },
    { POSTMORTEM_STORE: `s3://AKIA:${SECRETS.uri}@host/b` },
    { POSTMORTEM_STORE: 's3://dumps', AWS_ENDPOINT_URL: `https://AKIA:${SECRETS.uri}@host` },
    { POSTMORTEM_STORE: `https://AKIA:${SECRETS.env}@host/b` },
    { POSTMORTEM_STORE: `s3://dumps`, AWS_SECRET_ACCESS_KEY: SECRETS.env, AWS_SESSION_TOKEN: SECRETS.token },
    { POSTMORTEM_STORE: `s3://dumps`, AWS_ENDPOINT_URL: `https://AKIA:${SECRETS.env}@rgw` },
    { POSTMORTEM_STORE: `s3://dumps`, AWS_ENDPOINT_URL: `AKIA:${SECRETS.env}@rgw` },
    { VCAP_SERVICES: serviceWith({ bucket: 'b', secret_access_key: SECRETS.generic }) },
    { VCAP_SERVICES: serviceWith({ bucket: 'b', endpoint: `ftp://k:${SECRETS.rgw}@x`, access_key: 'k', secret_key: SECRETS.rgw }) },
    { VCAP_SERVICES: serviceWith({ uri: `s3://KEY:${encodeURIComponent(SECRETS.uri)}@rgw.internal` }) },
    { VCAP_SERVICES: serviceWith({ uri: `s3://KEY:${encodeURIComponent(SECRETS.uri)}@rgw.internal/b` }), POSTMORTEM_STORE: 's3://other' },
    { VCAP_SERVICES: `{"broken": [${JSON.stringify({ secret: SECRETS.generic })}` },
    { VCAP_SERVICES: serviceWith({}), POSTMORTEM_SERVICE: SECRETS.generic },
    { POSTMORTEM_GRACE: SECRETS.env, AWS_SECRET_ACCESS_KEY: SECRETS.env },
    { VCAP_APPLICATION: `{"application_name": "${SECRETS.generic}"` },
  ];
  for (const scenario of scenarios) {
    const messages: string[] = [];
    try {
      messages.push(...parseConfig({ ...LAUNCH_ENV, ...scenario }).warnings);
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error;
      messages.push(...error.problems, error.message);
    }
    t.ok(messages.length > 0, `scenario produces messages: ${Object.keys(scenario).join(',')}`);
    const text = messages.join('\n');
    for (const secret of Object.values(SECRETS)) {
      t.notOk(text.includes(secret), `${secret.slice(0, 12)}… hidden`);
      t.notOk(text.includes(encodeURIComponent(secret)), `${secret.slice(0, 12)}… hidden when encoded`);
    }
  }
});

t.test('app identity from VCAP_APPLICATION and CF_INSTANCE_*', async (t) => {
  t.same(parseConfig(LAUNCH_ENV).config.app, {
    name: 'orders',
    guid: '3f1c5a38-5b1e-4c0e-9d61-2a8bf1f0a0a1',
    space: 'production',
    org: 'acme',
    instanceIndex: '2',
    instanceGuid: 'f9e8d7c6-b5a4-4321-8765-4321fedcba98',
    processType: 'web',
    instanceIp: '10.0.16.5',
    memoryLimit: '1024m',
    diskLimit: '1024m',
  });
});

t.test('app identity fallbacks: nothing set, a task, malformed JSON', async (t) => {
  const bare = parseConfig({});
  t.same(bare.config.app, {
    name: 'unknown-app',
    guid: 'unknown-app-guid',
    space: 'unknown-space',
    org: 'unknown-org',
    instanceIndex: '0',
    instanceGuid: 'unknown-instance',
    processType: 'unknown',
  });

  const task = parseConfig({
    VCAP_APPLICATION: JSON.stringify({ application_name: 'orders', space_name: 's', limits: { mem: 512 } }),
    CF_INSTANCE_GUID: 'g',
  });
  t.equal(task.config.app.processType, 'task');
  t.equal(task.config.app.instanceIndex, '0');
  t.equal(task.config.app.memoryLimit, '512m');

  const indexFromVcap = parseConfig({ VCAP_APPLICATION: JSON.stringify({ instance_index: 3, instance_id: 'iid' }) });
  t.equal(indexFromVcap.config.app.instanceIndex, '3');
  t.equal(indexFromVcap.config.app.instanceGuid, 'iid');
  t.equal(indexFromVcap.config.app.processType, 'unknown');

  const broken = parseConfig({ VCAP_APPLICATION: '{"application_name": ', CF_INSTANCE_INDEX: '1' });
  t.equal(broken.config.app.name, 'unknown-app');
  t.equal(broken.config.app.instanceIndex, '1');
  t.match(broken.warnings, [/No store is configured/, /VCAP_APPLICATION is not a JSON object/]);
});

t.test('upload buffers larger than a quarter of the memory limit are warned about', async (t) => {
  const { warnings } = parse({ MEMORY_LIMIT: '256m', POSTMORTEM_PART_SIZE: '64MiB', POSTMORTEM_QUEUE_SIZE: '4' });
  t.match(warnings, [/No store/, /Uploads may buffer 256 MiB .*memory limit 256 MiB/]);
  t.equal(parse({ MEMORY_LIMIT: '1024m' }).warnings.length, 1, 'defaults (32 MiB) are fine at 1 GiB');
});

t.test('isDisabled', async (t) => {
  for (const value of ['true', 'TRUE', '1', 'yes']) t.equal(isDisabled({ POSTMORTEM_DISABLE: value }), true, value);
  for (const value of [undefined, '', 'false', '0', 'no', 'maybe']) t.equal(isDisabled({ POSTMORTEM_DISABLE: value }), false, String(value));
});

t.test('collectSecrets finds what the logger must hide', async (t) => {
  const secrets = collectSecrets({
    AWS_ACCESS_KEY_ID: 'AKIAENV',
    AWS_SECRET_ACCESS_KEY: SECRETS.env,
    AWS_SESSION_TOKEN: SECRETS.token,
    APP_DB_PASSWORD: 'hunter22',
    AWS_ENDPOINT_URL: 'https://user:endpoint-pw@rgw',
    SHORT_TOKEN: 'abc',
    BACKUP_URL: 's3://K:raw/slash/secret@host/b',
    VCAP_SERVICES: vcapServices(
      { name: 'store', credentials: { access_key_id: 'AKIAGEN', secret_access_key: SECRETS.generic, bucket: 'b' } },
      { name: 'minio', label: 'minio', credentials: { accessKey: 'mu', secretKey: SECRETS.minio, nested: { api_key: 'nested-api-key' } } },
      { name: 'u', credentials: { uri: `s3://K:${encodeURIComponent(SECRETS.uri)}@h/b` } },
    ),
  });
  for (const expected of [SECRETS.env, SECRETS.token, 'hunter22', 'endpoint-pw', SECRETS.generic, SECRETS.minio, 'nested-api-key', 'raw/slash/secret', SECRETS.uri, encodeURIComponent(SECRETS.uri)]) {
    t.ok(secrets.includes(expected), `finds ${expected}`);
  }
  for (const notSecret of ['AKIAENV', 'AKIAGEN', 'mu', 'b', 'abc']) t.notOk(secrets.includes(notSecret), `leaves ${notSecret}`);
  t.same(secrets, [...secrets].sort((a, b) => b.length - a.length), 'longest first');
  t.same(collectSecrets({ VCAP_SERVICES: 'not json' }), []);
});

t.test('the shell\'s PWD and OLDPWD are paths, not passwords', async (t) => {
  t.same(collectSecrets({ PWD: '/tmp', OLDPWD: '/home/vcap', DB_PWD: 'hunter22' }), ['hunter22']);
});

t.test('a custom endpoint with an AWS_PROFILE (browsing from a laptop) needs no keys', async (t) => {
  const { config } = parseConfig({ POSTMORTEM_STORE: 's3://dumps', AWS_ENDPOINT_URL: 'http://rgw.local:7480', AWS_PROFILE: 'ops' });
  t.equal(config.store.kind, 's3');
  t.equal((config.store as S3Target).credentials, undefined, 'left to the SDK chain (the profile)');
  t.throws(() => parseConfig({ POSTMORTEM_STORE: 's3://dumps', AWS_ENDPOINT_URL: 'http://rgw.local:7480' }), ConfigError);
});

t.test('AES256 on a non-AWS endpoint warns that the store may keep plaintext', async (t) => {
  const env = { POSTMORTEM_STORE: 's3://dumps', AWS_ENDPOINT_URL: 'http://rgw.local:7480', AWS_ACCESS_KEY_ID: 'AKIAX', AWS_SECRET_ACCESS_KEY: 'secret-value-1', POSTMORTEM_SSE: 'AES256' };
  const { warnings } = parseConfig(env);
  t.match(warnings.join('\n'), /AES256 .* store plaintext/);
  t.notMatch(parseConfig({ ...env, POSTMORTEM_SSE: 'aws:kms', POSTMORTEM_SSE_KMS_KEY_ID: 'k1' }).warnings.join('\n'), /plaintext/);
});
