import t from 'tap';
import { appShareNotice, appShareOfMemory, formatMemoryLimit, parseMemoryLimit } from '../../src/config/memory-limit.ts';
import { DEFAULTS, defaultPartSize, parseConfig } from '../../src/config/parse.ts';

const MiB = 1024 * 1024;

t.test('one reading of MEMORY_LIMIT: the platform\'s spellings, a plain number is megabytes', async (t) => {
  t.equal(parseMemoryLimit('1024m'), 1024 * MiB);
  t.equal(parseMemoryLimit('1024M'), 1024 * MiB);
  t.equal(parseMemoryLimit('1G'), 1024 * MiB);
  t.equal(parseMemoryLimit('2g'), 2048 * MiB);
  t.equal(parseMemoryLimit('1GiB'), 1024 * MiB);
  t.equal(parseMemoryLimit('524288k'), 512 * MiB);
  t.equal(parseMemoryLimit('1024'), 1024 * MiB, 'like VCAP_APPLICATION limits.mem');
  for (const bad of ['', 'lots', '1.5g', '-1m', '0', '10x']) t.equal(parseMemoryLimit(bad), undefined, `${JSON.stringify(bad)} not understood`);
  t.equal(formatMemoryLimit(928 * MiB), '928m');
  t.equal(formatMemoryLimit(928 * MiB + 5), '928m', 'rounded down: never more than is there');
});

t.test('the default part size holds the largest artifact the container can make in 10,000 parts', async (t) => {
  t.equal(DEFAULTS.partSize, 8 * MiB);
  t.equal(DEFAULTS.queueSize, 4);
  const config = (env: Record<string, string>) => parseConfig(env).config;
  t.equal(config({ MEMORY_LIMIT: '1024m' }).partSize, 8 * MiB, 'a 1 GiB container: 8 MiB parts');
  t.equal(config({}).partSize, 8 * MiB, 'no known limit: 8 MiB');
  t.equal(config({ MEMORY_LIMIT: '62g' }).partSize, 8 * MiB, '62 GiB x 1.25 fits in 10,000 parts of 8 MiB (78.1 GiB)');
  t.equal(config({ MEMORY_LIMIT: '63g' }).partSize, 9 * MiB, '63 GiB x 1.25 does not: 9 MiB');
  const big = config({ MEMORY_LIMIT: '64g' }).partSize;
  t.equal(big, 9 * MiB, '64 GiB x 1.25 = 80 GiB needs 8.2 MiB parts: 9 MiB');
  t.ok(big * 10_000 >= 64 * 1024 * MiB * 1.25, 'which hold it');
  t.equal(config({ POSTMORTEM_CONTAINER_MEMORY_LIMIT: '64g', MEMORY_LIMIT: '1g' }).partSize, 9 * MiB, "the container's limit, not the app's share after the reserve");
  t.equal(config({ MEMORY_LIMIT: '64g', POSTMORTEM_PART_SIZE: '6MiB' }).partSize, 6 * MiB, 'a part size that is set is kept');
  t.equal(defaultPartSize(10 * 1024 * 1024 * MiB), 512 * MiB, 'at most 512 MiB');
});

t.test('the upload-memory warning reads MEMORY_LIMIT the same way (a plain number is megabytes there too)', async (t) => {
  const big = { POSTMORTEM_PART_SIZE: '64MiB', POSTMORTEM_QUEUE_SIZE: '4' };
  const uploadWarnings = (limit: string) => parseConfig({ MEMORY_LIMIT: limit, ...big }).warnings.filter((w) => /Uploads may buffer/.test(w));
  t.match(uploadWarnings('512'), [/more than a quarter of the app's memory limit 512 MiB/], '256 MiB of buffers > a quarter of 512 MB');
  t.same(uploadWarnings('8192'), [], 'not a quarter of 8 GB');
});

t.test('the app\'s share: the limit less the reserve, in MEMORY_LIMIT\'s own spelling', async (t) => {
  const share = appShareOfMemory('1024m', 96 * MiB);
  t.equal(share.appLimit, '928m');
  t.match(share.message, /MEMORY_LIMIT is 928m: the container's 1024m less 96 MiB .*POSTMORTEM_MEMORY_RESERVE/);
  t.equal(appShareOfMemory('1G', 100 * MiB).appLimit, '924m');
  t.same(appShareOfMemory('1024m', 0), {}, '0 turns it off, silently');
  t.same(appShareOfMemory(undefined, 96 * MiB), {}, 'not on Cloud Foundry: nothing to do');
});

t.test('a container too small for the reserve keeps its limit, and the line says why', async (t) => {
  const share = appShareOfMemory('128m', 96 * MiB);
  t.equal(share.appLimit, undefined);
  t.match(share.message, /MEMORY_LIMIT stays 128m.*less than half/);
  const odd = appShareOfMemory('lots', 96 * MiB);
  t.equal(odd.appLimit, undefined);
  t.match(odd.message, /MEMORY_LIMIT "lots" is not a size/);
});

t.test('POSTMORTEM_MEMORY_RESERVE: default 144 MiB, sizes, 0, and a clear error', async (t) => {
  t.equal(parseConfig({}).config.memoryReserve, 144 * MiB);
  t.equal(parseConfig({ POSTMORTEM_MEMORY_RESERVE: '128M' }).config.memoryReserve, 128 * MiB);
  t.equal(parseConfig({ POSTMORTEM_MEMORY_RESERVE: '0' }).config.memoryReserve, 0);
  t.throws(() => parseConfig({ POSTMORTEM_MEMORY_RESERVE: 'much' }), /POSTMORTEM_MEMORY_RESERVE/);
});

t.test('the report keeps the container\'s limit when the app\'s was lowered', async (t) => {
  const { config } = parseConfig({ MEMORY_LIMIT: '928m', POSTMORTEM_CONTAINER_MEMORY_LIMIT: '1024m' });
  t.equal(config.app.memoryLimit, '1024m');
});

t.test('POSTMORTEM_MEMORY_RESERVE takes at most 6 decimals (what the profile.d script reads exactly in shell)', async (t) => {
  t.equal(parseConfig({ POSTMORTEM_MEMORY_RESERVE: '0.093750GiB' }).config.memoryReserve, 96 * MiB);
  t.throws(() => parseConfig({ POSTMORTEM_MEMORY_RESERVE: '0.0937500GiB' }), /POSTMORTEM_MEMORY_RESERVE is "0\.0937500GiB": expected a size with at most 6 decimals/);
});

t.test('the watchdog\'s line names what the profile.d script did, and a MEMORY_LIMIT changed after it', async (t) => {
  t.match(appShareNotice({ MEMORY_LIMIT: '928m', POSTMORTEM_CONTAINER_MEMORY_LIMIT: '1024m' }, 96 * MiB), /the app's MEMORY_LIMIT is 928m: the container's 1024m less 96 MiB/);
  t.match(appShareNotice({ MEMORY_LIMIT: '128m' }, 96 * MiB), /MEMORY_LIMIT stays 128m/);
  t.equal(appShareNotice({ MEMORY_LIMIT: '1024m' }, 0), undefined, 'no reserve: nothing to say');
  t.match(appShareNotice({ MEMORY_LIMIT: '2048m', POSTMORTEM_CONTAINER_MEMORY_LIMIT: '1024m' }, 96 * MiB), /WARNING: the app's MEMORY_LIMIT is 2048m, not the 928m/);
});
