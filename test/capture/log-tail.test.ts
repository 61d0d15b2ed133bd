import t from 'tap';
import { LogTail } from '../../src/capture/log-tail.ts';

t.test('keeps only the most recent bytes', async (t) => {
  const tail = new LogTail(10);
  for (const s of ['abc', 'defgh', 'ijklmnop', 'q']) tail.push(Buffer.from(s));
  t.equal(tail.snapshot().toString(), 'hijklmnopq');
  const off = new LogTail(0);
  off.push(Buffer.from('x'));
  t.equal(off.snapshot().length, 0);
});
