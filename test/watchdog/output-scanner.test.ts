import t from 'tap';
import { OutputScanner, type OutputEvent } from '../../src/watchdog/output-scanner.ts';

t.test('finds the JVM\'s words even when split across chunks', async (t) => {
  const events: OutputEvent[] = [];
  const scanner = new OutputScanner((e) => events.push(e));
  const text = 'hello\njava.lang.OutOfMemoryError: Java heap space\nDumping heap to /tmp/x/java_pid7.hprof ...\nHeap dump file created [123 bytes in 0.1 secs]\n';
  for (let i = 0; i < text.length; i += 7) scanner.feed(Buffer.from(text.slice(i, i + 7)));
  scanner.feed(Buffer.from('# A fatal error has been detected by the Java Runtime Environment:'));
  scanner.flush();
  t.same(events, [
    { kind: 'out-of-memory', message: 'Java heap space' },
    { kind: 'heap-dump-started', path: '/tmp/x/java_pid7.hprof' },
    { kind: 'heap-dump-written' },
    { kind: 'fatal-error' },
  ]);
});

t.test('an endless line without newline keeps memory bounded', async (t) => {
  const scanner = new OutputScanner(() => t.fail('no event expected'));
  for (let i = 0; i < 1000; i++) scanner.feed(Buffer.alloc(64 * 1024, 0x61));
  t.ok((scanner as unknown as { carry: string }).carry.length <= 8192);
});

t.test('the JVM saying a dump is incomplete is an event with its reason', async (t) => {
  const events: OutputEvent[] = [];
  const scanner = new OutputScanner((e) => events.push(e));
  scanner.feed(Buffer.from('Dumping heap to /d/x.hprof ...\nDump file is incomplete: No space left on device\n'));
  t.same(events, [
    { kind: 'heap-dump-started', path: '/d/x.hprof' },
    { kind: 'heap-dump-failed', reason: 'No space left on device' },
  ]);
});
