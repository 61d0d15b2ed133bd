import t from 'tap';
import { classifyDeath, exitStatusOf } from '../../src/watchdog/death.ts';

const base = { stopRequested: false, outOfMemory: false, fatalError: false };

t.test('exit status is the app\'s own, 128+n for a signal', async (t) => {
  t.equal(exitStatusOf(3, undefined), 3);
  t.equal(exitStatusOf(undefined, 'SIGKILL'), 137);
  t.equal(exitStatusOf(undefined, 'SIGSEGV'), 139);
  t.equal(exitStatusOf(undefined, 'SIGABRT'), 134);
});

t.test('the cause wins over how the process ended', async (t) => {
  t.equal(classifyDeath({ ...base, exitCode: 1, outOfMemory: true }).reason, 'oom');
  t.equal(classifyDeath({ ...base, signal: 'SIGTERM', stopRequested: true, outOfMemory: true }).reason, 'oom');
  t.equal(classifyDeath({ ...base, signal: 'SIGABRT', fatalError: true }).reason, 'fatal-error');
  t.equal(classifyDeath({ ...base, signal: 'SIGTERM', stopRequested: true }).reason, 'stop');
  t.equal(classifyDeath({ ...base, signal: 'SIGSEGV' }).reason, 'signal');
  t.equal(classifyDeath({ ...base, exitCode: 0 }).reason, 'exit', 'exit 0 of a web process is still a death');
  const d = classifyDeath({ ...base, signal: 'SIGKILL' });
  t.same({ status: d.exitStatus, signal: d.signal, code: d.exitCode }, { status: 137, signal: 'SIGKILL', code: undefined });
  t.match(d.summary, /killed by SIGKILL/);
});
