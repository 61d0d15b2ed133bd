// The owner of a real core, read from its ELF notes, is the process that crashed.
import t from 'tap';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { parseCoreOwner, readCoreOwner } from '../../src/capture/core-owner.ts';
import { tempDir } from '../support/temp.ts';
import { skipOrFailInCi } from '../support/requirements.ts';

t.test('pid and process group of a real core', async (t) => {
  const pattern = (await readFile('/proc/sys/kernel/core_pattern', 'utf8')).trim();
  if (pattern !== 'core') return skipOrFailInCi(t, `core_pattern is "${pattern}" here, not "core": cores do not land in the crashing process's folder`);
  const dir = await tempDir('pm-owner-');
  await execa('cc', ['-g', '-o', path.join(dir, 'crasher'), path.resolve('test/fixtures/native/crasher.c')]);
  // A shell of its own (setsid) prints the crasher's pid, then the crasher dumps core.
  const r = await execa('setsid', ['bash', '-c', 'ulimit -c unlimited; ./crasher segv & echo "pid $! pgrp $(ps -o pgid= $$)"; wait'], { cwd: dir, reject: false, stdin: 'ignore' });
  const [, pid, pgrp] = /pid (\d+) pgrp\s*(\d+)/.exec(r.stdout) ?? [];
  const owner = await readCoreOwner(path.join(dir, 'core'));
  t.same(owner && { pid: owner.pid, pgrp: owner.pgrp }, { pid: Number(pid), pgrp: Number(pgrp) });
  t.equal(parseCoreOwner(Buffer.from('not an ELF file at all, just text')), undefined);
});
