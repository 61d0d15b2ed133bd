// The crash's summary line counts what is whole and verified apart from what is not: an
// incomplete or unverified artifact is never summed into "stored" (principle 4).
import t from 'tap';
import { evidenceTally } from '../../src/capture/aftermath.ts';

t.test('all stored and verified', async (t) => {
  t.same(evidenceTally([{ complete: true, verified: true }, { complete: true, verified: true }], 0), { words: '2 stored and verified, 0 failed', allGood: true });
});

t.test('incomplete, unverified and failed are named apart', async (t) => {
  const tally = evidenceTally([
    { complete: true, verified: true },
    { complete: false, verified: true },
    { complete: false, verified: false },
    { complete: true, verified: false },
  ], 2);
  t.equal(tally.words, '1 stored and verified, 2 stored but INCOMPLETE, 1 stored but not verified, 2 failed');
  t.equal(tally.allGood, false);
});

t.test('a failure alone makes it a warning', async (t) => {
  t.equal(evidenceTally([], 1).allGood, false);
  t.equal(evidenceTally([], 1).words, '0 stored and verified, 1 failed');
});
