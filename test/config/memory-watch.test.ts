import t from 'tap';
import { parseConfig } from '../../src/config/parse.ts';
import { ConfigError, type Env } from '../../src/config/types.ts';
import { LAUNCH_ENV } from './fixtures.ts';

function problemsOf(env: Env): readonly string[] {
  try {
    parseConfig({ ...LAUNCH_ENV, ...env });
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  return [];
}

t.test('defaults: pressure at 90%, checks every 10 s, GC spiral captured at 90% over 60 s, NMT off', async (t) => {
  t.same(parseConfig(LAUNCH_ENV).config.memoryWatch, {
    pressurePercent: 90, checkEveryMs: 10_000, gcSpiral: 'capture', gcSpiralPercent: 90, gcSpiralWindowMs: 60_000, nmt: false,
  });
});

t.test('settings are read', async (t) => {
  const { memoryWatch } = parseConfig({
    ...LAUNCH_ENV, POSTMORTEM_MEMORY_PRESSURE: '80%', POSTMORTEM_MEMORY_CHECK_EVERY: '10s', POSTMORTEM_GC_SPIRAL: 'KILL',
    POSTMORTEM_GC_SPIRAL_THRESHOLD: '95', POSTMORTEM_GC_SPIRAL_WINDOW: '2m', POSTMORTEM_NMT: 'summary',
  }).config;
  t.same(memoryWatch, { pressurePercent: 80, checkEveryMs: 10_000, gcSpiral: 'kill', gcSpiralPercent: 95, gcSpiralWindowMs: 120_000, nmt: true });
  t.equal(parseConfig({ ...LAUNCH_ENV, POSTMORTEM_MEMORY_PRESSURE: 'off' }).config.memoryWatch.pressurePercent, undefined);
});

t.test('bad values name the setting and the fix', async (t) => {
  t.match(problemsOf({ POSTMORTEM_MEMORY_PRESSURE: '120%' }), [/POSTMORTEM_MEMORY_PRESSURE is "120%": expected a percentage from 1% to 99%, or off/]);
  t.match(problemsOf({ POSTMORTEM_GC_SPIRAL_THRESHOLD: 'off' }), [/POSTMORTEM_GC_SPIRAL_THRESHOLD .*expected a percentage from 1% to 99%\./]);
  t.match(problemsOf({ POSTMORTEM_GC_SPIRAL: 'yes' }), [/POSTMORTEM_GC_SPIRAL .*one of off, capture, kill/]);
  t.match(problemsOf({ POSTMORTEM_NMT: 'detail' }), [/POSTMORTEM_NMT .*one of off, summary/]);
  t.match(problemsOf({ POSTMORTEM_GC_SPIRAL_WINDOW: '5s', POSTMORTEM_MEMORY_CHECK_EVERY: '5s' }), [/POSTMORTEM_GC_SPIRAL_WINDOW .*at least two checks long/]);
});
