// The upload path counts Buffers' memory in V8's heap limit (src/store/external-memory-gc.ts).
// The flag exists only in some V8 versions: on one that lacks it the call must do nothing
// (not even the "unrecognized flag" line V8 prints), and the runtime we ship must know it.
// Its effect on peak memory is a bench figure (bench/measure/follow-rss.ts), not asserted here.
import { execa } from 'execa';
import path from 'node:path';
import t from 'tap';
import { EXTERNAL_MEMORY_FLAG, v8HasExternalMemoryFlag } from '../../src/store/external-memory-gc.ts';
import { extractRuntime } from '../support/runtime.ts';
import { tempDir } from '../support/temp.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');
const CALL = "import { collectExternalMemorySooner } from './src/store/external-memory-gc.ts'; console.log(collectExternalMemorySooner());";

t.test('which V8 versions get the flag', async (t) => {
  t.equal(v8HasExternalMemoryFlag('11.3.244.8-node.38'), false, 'Node 20');
  t.equal(v8HasExternalMemoryFlag('12.4.254.21-node.33'), false, 'Node 22');
  t.equal(v8HasExternalMemoryFlag('13.6.233.10-node.18'), true, 'Node 24');
  t.equal(v8HasExternalMemoryFlag('14.6.202.34-node.40'), true, 'Node 26');
  t.equal(v8HasExternalMemoryFlag('15.0.1'), false, 'a later V8 has it on by default and no flag');
  t.equal(v8HasExternalMemoryFlag('garbage'), false);
});

t.test('the shipped runtime knows the flag, and setting it says nothing', async (t) => {
  const node = await extractRuntime(await tempDir('postmortem-extmem-'));
  const version = (await execa(node, ['-p', 'process.versions.v8'])).stdout.trim();
  const options = (await execa(node, ['--v8-options'])).stdout;
  t.equal(options.includes(EXTERNAL_MEMORY_FLAG), v8HasExternalMemoryFlag(version), `V8 ${version}: flag listed exactly when we set it`);
  const set = await execa(node, ['--import', 'tsx', '--input-type=module', '-e', CALL], { cwd: ROOT });
  t.equal(set.stdout.trim(), String(v8HasExternalMemoryFlag(version)));
  t.equal(set.stderr, '', 'no "unrecognized flag" line');
});

t.test('on this runner\'s Node (no flag) the call does nothing and says nothing', async (t) => {
  const set = await execa(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', CALL], { cwd: ROOT });
  t.equal(set.stdout.trim(), String(v8HasExternalMemoryFlag(process.versions.v8)));
  t.equal(set.stderr, '');
});
