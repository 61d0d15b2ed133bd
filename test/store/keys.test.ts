import t from 'tap';
import { artifactKey, crashPrefix, parseCrashPrefix, safeSegment, type CrashKeyParts } from '../../src/store/keys.ts';

const base: CrashKeyParts = {
  prefix: 'postmortem',
  org: 'acme',
  space: 'prod',
  app: 'orders-api',
  instanceIndex: '3',
  reason: 'oom-killed',
  time: new Date('2024-03-05T07:08:09.456Z'),
};

t.test('layout: prefix/org/space/app/day/stamp-instance-reason in UTC', async (t) => {
  t.equal(crashPrefix(base), 'postmortem/acme/prod/orders-api/2024-03-05/20240305T070809Z-3-oom-killed');
  // Late evening in a zone west of UTC is already the next day in UTC.
  t.equal(
    crashPrefix({ ...base, time: new Date('2024-12-31T23:30:00-05:00') }),
    'postmortem/acme/prod/orders-api/2025-01-01/20250101T043000Z-3-oom-killed',
  );
});

t.test('no empty segments: empty or slashy prefix, empty names', async (t) => {
  t.equal(crashPrefix({ ...base, prefix: '' }), 'acme/prod/orders-api/2024-03-05/20240305T070809Z-3-oom-killed');
  t.equal(crashPrefix({ ...base, prefix: '/a//b/' }), 'a/b/acme/prod/orders-api/2024-03-05/20240305T070809Z-3-oom-killed');
  t.equal(crashPrefix({ ...base, prefix: '', org: '', space: '..' }), '_/__/orders-api/2024-03-05/20240305T070809Z-3-oom-killed');
});

t.test('names are made safe', async (t) => {
  t.equal(safeSegment('my app (blue)/v2'), 'my-app--blue--v2');
  t.equal(safeSegment('Ünïcode☃.x_y-z'), '-n-code-.x_y-z');
  t.equal(safeSegment('.'), '_');
  t.equal(safeSegment('...'), '___');
  t.equal(safeSegment('a'.repeat(300)).length, 100);
  const key = crashPrefix({ ...base, org: 'ACME Corp', space: 'prod/eu', app: 'app:1', instanceIndex: 'x-1', reason: 'signal SIGSEGV' });
  t.equal(key, 'postmortem/ACME-Corp/prod-eu/app-1/2024-03-05/20240305T070809Z-x_1-signal-SIGSEGV');
  t.ok(/^[A-Za-z0-9._\/-]+$/.test(key));
});

t.test('round trip: parse(crashPrefix(parts)) gives the parts back', async (t) => {
  const cases: CrashKeyParts[] = [
    base,
    { ...base, prefix: '' },
    { ...base, prefix: 'a/b/c', reason: 'exit-137', instanceIndex: '12' },
    // A prefix that itself looks like a day folder must not confuse the parser.
    { ...base, prefix: 'x/2024-03-05/20240305T070809Z-1-y', time: new Date('2030-01-02T03:04:05Z') },
    { ...base, time: new Date('1999-12-31T23:59:59Z'), reason: 'signal-SIGKILL' },
  ];
  for (const parts of cases) {
    const key = crashPrefix(parts);
    const parsed = parseCrashPrefix(key);
    const expected = { ...parts, prefix: parts.prefix, time: new Date(Math.floor(parts.time.getTime() / 1000) * 1000) };
    t.same(parsed, { ...expected, crashPrefix: key, artifact: '' }, key);
    t.equal(crashPrefix(parsed as CrashKeyParts), key, `stable: ${key}`);
  }
});

t.test('artifact keys parse back to their crash', async (t) => {
  const prefix = crashPrefix(base);
  const key = artifactKey(prefix, 'heap/java pid 7.hprof.gz');
  t.equal(key, `${prefix}/heap/java-pid-7.hprof.gz`);
  const parsed = parseCrashPrefix(key);
  t.equal(parsed?.crashPrefix, prefix);
  t.equal(parsed?.artifact, 'heap/java-pid-7.hprof.gz');
  t.equal(parsed?.app, 'orders-api');
  t.throws(() => artifactKey(prefix, '//'));
});

t.test('foreign keys are not parsed', async (t) => {
  for (const key of [
    '',
    'a/b/c',
    'acme/prod/app/2024-03-05/20240306T070809Z-3-oom', // stamp of another day
    'acme/prod/app/2024-02-30/20240230T070809Z-3-oom', // no such date
    'prod/app/2024-03-05/20240305T070809Z-3-oom', // missing org
    'acme/prod/app/2024-03-05/20240305T070809Z--oom',
  ]) {
    t.equal(parseCrashPrefix(key), undefined, key);
  }
});

t.test('an invalid Date is a caller mistake', async (t) => {
  t.throws(() => crashPrefix({ ...base, time: new Date('nope') }), TypeError);
});
