// The app's output before the crash watch is ready: kept in order, bounded, handed over
// once; what did not fit is counted (and said by the watchdog), never reordered.
import t from 'tap';
import { OutputBacklog } from '../../src/watchdog/output-backlog.ts';

t.test('chunks before the watch are handed over in order, then passed straight on', async (t) => {
  const backlog = new OutputBacklog(100);
  backlog.onOutput(Buffer.from('one\n'));
  backlog.onOutput(Buffer.from('two\n'));
  const seen: string[] = [];
  t.equal(backlog.deliverTo((chunk) => seen.push(chunk.toString())), 0, 'nothing missed');
  backlog.onOutput(Buffer.from('three\n'));
  t.same(seen, ['one\n', 'two\n', 'three\n']);
});

t.test('beyond its bound nothing more is kept, and the bytes missed are counted', async (t) => {
  const backlog = new OutputBacklog(10);
  backlog.onOutput(Buffer.from('12345678'));
  backlog.onOutput(Buffer.from('abcdef')); // would make 14 > 10
  backlog.onOutput(Buffer.from('xy')); // would fit, but after a hole: not kept either
  const seen: string[] = [];
  t.equal(backlog.deliverTo((chunk) => seen.push(chunk.toString())), 8, 'the 8 bytes not kept');
  t.same(seen, ['12345678'], 'a whole beginning, no piece after a hole');
  backlog.onOutput(Buffer.from('live'));
  t.same(seen, ['12345678', 'live'], 'then everything, as it comes');
});

t.test('discarded: nothing more is kept', async (t) => {
  const backlog = new OutputBacklog(100);
  backlog.onOutput(Buffer.from('before'));
  backlog.discard();
  backlog.onOutput(Buffer.from('after'));
  const seen: string[] = [];
  backlog.deliverTo((chunk) => seen.push(chunk.toString()));
  t.same(seen, [], 'no chunk held after discard');
});
