import t from 'tap';
import { problem, shown } from '../../src/config/problems.ts';

t.test('problem messages have one shape', async (t) => {
  t.equal(
    problem({ setting: 'POSTMORTEM_X', received: '"1"', expected: 'a thing', fix: 'set it' }),
    'POSTMORTEM_X is "1": expected a thing. Fix: set it.',
  );
  t.equal(
    problem({ setting: 'service "s"', verb: 'has', received: 'no bucket', expected: 'a bucket', fix: 'add one' }),
    'service "s" has no bucket: expected a bucket. Fix: add one.',
  );
  t.equal(problem({ setting: 'X', expected: 'y', fix: 'z' }), 'X: expected y. Fix: z.');
});

t.test('shown quotes, escapes, cuts and hides user:password', async (t) => {
  t.equal(shown('plain'), '"plain"');
  t.equal(shown('a\nb"c'), '"a\\nb\\"c"');
  t.equal(shown('x'.repeat(200)), JSON.stringify(`${'x'.repeat(80)}…`));
  const secret = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY';
  const cases: [string, string][] = [
    [`s3://AKIA:${secret}@rgw.example.com/bucket`, '"s3://***@rgw.example.com/bucket"'],
    [`https://AKIA:${encodeURIComponent(secret)}@host`, '"https://***@host"'],
    [`AKIA:${secret}@host:7480`, '"***@host:7480"'],
  ];
  for (const [value, expected] of cases) {
    t.equal(shown(value), expected);
    t.notOk(shown(value).includes('K7MDENG'), 'no part of the secret');
  }
});
