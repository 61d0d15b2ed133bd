import t from 'tap';
import { createEventLog, redact } from '../../src/util/event-log.ts';

t.test('one event is one line, prefixed, secrets hidden', async (t) => {
  const lines: string[] = [];
  const log = createEventLog((l) => lines.push(l), ['s3cr3tkey']);
  log.warn('upload to https://AKIA:s3cr3tkey@host/b failed\nretrying with s3cr3tkey');
  t.equal(lines.length, 1);
  t.match(lines[0], /^\[postmortem\] WARNING: upload to https:\/\/\*\*\*:\*\*\*@host\/b failed\\nretrying with \*\*\*\n$/);
});

t.test('presigned URL signatures are redacted', async (t) => {
  t.equal(redact('http://h/k?X-Amz-Signature=abc&x=1'), 'http://h/k?X-Amz-Signature=***&x=1');
});
