// `postmortem show` lines for the heap histogram: from a report as stored, and from reports
// that are old (no histogram) or damaged (fields of the wrong type): never a throw.
import t from 'tap';
import { histogramLines } from '../../src/browse/histogram.ts';

t.test('the top of the first histogram, with the thread that threw', async (t) => {
  const report = {
    heapHistograms: [{
      artifact: 'heap.hprof.gz', complete: true,
      top: [{ name: 'OomCounted$Block', instances: 331945, bytes: 47800080, kind: 'instance' }, { name: 'byte[]', instances: 7198, bytes: 332584, kind: 'primitive-array' }],
      outOfMemoryThread: { name: 'main', nameFrom: 'jvm-output', serial: 1, frames: [] },
    }],
  };
  const lines = histogramLines(report);
  t.equal(lines[0], 'heap histogram of heap.hprof.gz (top 2; all in histogram.json):');
  t.match(lines[1], /^ {3}1\. +45\.59 MiB +331945 {2}OomCounted\$Block$/);
  t.match(lines[2], /2\. .*byte\[\]$/);
  t.equal(lines[3], '  OutOfMemoryError thrown in thread "main"');
});

t.test('incomplete, old and damaged reports', async (t) => {
  t.match(histogramLines({ heapHistograms: [{ artifact: 'heap.hprof', complete: false, reason: 'the dump is cut inside a record at byte 5 (truncated)', top: [] }] })[0], /INCOMPLETE: the dump is cut/);
  t.same(histogramLines({}), [], 'no histogram in an older report');
  t.same(histogramLines(null), []);
  t.same(histogramLines({ heapHistograms: 'x' }), []);
  t.same(histogramLines({ heapHistograms: [{ top: [{ name: 3 }, null, { name: 'A', instances: 1, bytes: 16 }] }] }).length, 2, 'bad entries are left out');
});
