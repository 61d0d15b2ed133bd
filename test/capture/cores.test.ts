import t from 'tap';
import { execa } from 'execa';
import { planCores, withCoreLimit } from '../../src/capture/cores.ts';

t.test('core_pattern decides where cores go, or why they cannot be captured', async (t) => {
  const plain = planCores('core\n', false, '/home/vcap/app');
  t.equal(plain.folder, '/home/vcap/app');
  t.ok(plain.namePattern!.test('core'));
  t.notOk(plain.namePattern!.test('core.123'));
  t.ok(planCores('core', true, '/app').namePattern!.test('core.123'), 'core_uses_pid adds .<pid>');
  const abs = planCores('/var/cores/core.%e.%p.%t', false, '/app');
  t.equal(abs.folder, '/var/cores');
  t.ok(abs.namePattern!.test('core.java.42.1700000000'));
  t.notOk(abs.namePattern!.test('other'));
  const pipe = planCores('|/usr/share/apport/apport -p%p -s%s', false, '/app');
  t.equal(pipe.capturable, false);
  t.match(pipe.explanation, /pipes them to a host program \(\|\/usr\/share\/apport\/apport\)/);
  t.equal(planCores(undefined, false, '/app').capturable, false);
});

t.test('the core limit shim raises the soft limit and runs the command unchanged', async (t) => {
  const argv = withCoreLimit(['bash', '-c', 'echo "$(ulimit -S -c) $1"', 'x', 'it works']);
  const r = await execa(argv[0]!, argv.slice(1), { stdin: 'ignore' });
  const hard = (await execa('bash', ['-c', 'ulimit -H -c'], { stdin: 'ignore' })).stdout.trim();
  t.equal(r.stdout, `${hard} it works`);
});
