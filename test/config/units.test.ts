import t from 'tap';
import { formatBytes, formatDuration, parseBytes, parseDuration } from '../../src/config/units.ts';

t.test('parseDuration reads the usual spellings', async (t) => {
  const cases: [string, number][] = [
    ['500ms', 500],
    ['60s', 60_000],
    ['2m', 120_000],
    ['1h', 3_600_000],
    ['30', 30_000],
    ['0', 0],
    ['1.5s', 1500],
    ['0.5', 500],
    ['1m30s', 90_000],
    ['1h 2m 3s', 3_723_000],
    [' 10 S ', 10_000],
    ['2M', 120_000],
    ['7d', 604_800_000],
  ];
  for (const [text, ms] of cases) t.equal(parseDuration(text), ms, text);
});

t.test('parseDuration refuses what it does not understand', async (t) => {
  for (const text of ['', 'abc', '10x', '-5s', '1w', 's', '1m junk', '1.s', '.5s', '10 seconds', '1e3']) {
    t.equal(parseDuration(text), undefined, JSON.stringify(text));
  }
});

t.test('parseBytes reads binary multiples and plain bytes', async (t) => {
  const cases: [string, number][] = [
    ['64KiB', 64 * 1024],
    ['8MiB', 8 * 1024 ** 2],
    ['1GiB', 1024 ** 3],
    ['512k', 512 * 1024],
    ['512K', 512 * 1024],
    ['8 MB', 8 * 1024 ** 2],
    ['1.5g', 1.5 * 1024 ** 3],
    ['1TiB', 1024 ** 4],
    ['100', 100],
    ['100B', 100],
    ['0', 0],
  ];
  for (const [text, bytes] of cases) t.equal(parseBytes(text), bytes, text);
});

t.test('parseBytes refuses what it does not understand', async (t) => {
  for (const text of ['', 'MiB', '8 XB', '-1', '8MiBs', '1,5M', '1e9', '99999999999999999999G']) {
    t.equal(parseBytes(text), undefined, JSON.stringify(text));
  }
});

t.test('formatBytes picks the largest unit', async (t) => {
  t.equal(formatBytes(0), '0 B');
  t.equal(formatBytes(512), '512 B');
  t.equal(formatBytes(1024), '1 KiB');
  t.equal(formatBytes(256 * 1024), '256 KiB');
  t.equal(formatBytes(8 * 1024 ** 2), '8 MiB');
  t.equal(formatBytes(1.5 * 1024 ** 3), '1.5 GiB');
  t.equal(formatBytes(1000), '1000 B');
  t.equal(formatBytes(1025), '1 KiB', 'rounded to two decimals');
});

t.test('formatDuration prefers an exact unit', async (t) => {
  t.equal(formatDuration(0), '0s');
  t.equal(formatDuration(250), '250ms');
  t.equal(formatDuration(30_000), '30s');
  t.equal(formatDuration(90_000), '90s');
  t.equal(formatDuration(120_000), '2m');
  t.equal(formatDuration(3_600_000), '1h');
  t.equal(formatDuration(172_800_000), '2d');
  t.equal(formatDuration(61_234), '61.2s');
  t.equal(formatDuration(1_500), '1.5s');
});

t.test('bytes round trip through format and parse', async (t) => {
  const sizes = [0, 1, 999, 1024, 5 * 1024 ** 2, 8 * 1024 ** 2, 512 * 1024 ** 2, 1536, 3 * 1024 ** 3, 256 * 1024, 1024 ** 4];
  for (const bytes of sizes) t.equal(parseBytes(formatBytes(bytes)), bytes, String(bytes));
});

t.test('durations round trip through format and parse', async (t) => {
  const durations = [0, 1, 250, 999, 1000, 1500, 30_000, 90_000, 120_000, 900_000, 3_600_000, 7_200_000, 86_400_000];
  for (const ms of durations) t.equal(parseDuration(formatDuration(ms)), ms, String(ms));
});
