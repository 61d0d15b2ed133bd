// The stop controller against a real app process that ignores SIGTERM: the steps after a
// stop come in the order the design promises (SIGTERM forwarded, SIGKILL of the group,
// uploads abandoned, work ended, the deadline), all from the first SIGTERM. The signal
// itself is delivered by calling the registered handler, as the entry's process.on does.
import t from 'tap';
import { PassThrough } from 'node:stream';
import { ABANDON_MS, controlStops, END_WORK_MS, KILL_APP_MS } from '../../src/watchdog/stop.ts';
import { startApp } from '../../src/watchdog/supervise.ts';
import { memoryEventLog } from '../../src/util/event-log.ts';
import { deadlineIn } from '../../src/util/deadline.ts';

t.test('a stop of an app that ignores SIGTERM: forwarded, then SIGKILL, uploads, work, deadline, in that order', async (t) => {
  const out = new PassThrough();
  out.resume();
  const app = startApp({ command: ['bash', '-c', "trap 'echo got TERM' TERM; echo ready; while :; do sleep 0.05; done"], env: { PATH: process.env.PATH }, stdout: out, stderr: out });
  const handlers = new Map<string, () => void>();
  const events: string[] = [];
  let output = '';
  out.on('data', (c: Buffer) => { output += c.toString(); if (/got TERM/.test(output) && !events.includes('app got SIGTERM')) events.push('app got SIGTERM'); });
  const log = memoryEventLog();
  let stopped = 0;
  const deadline = new Promise<void>((resolve) => {
    const stop = controlStops({
      app, deadlineMs: 3000, log, onStop: () => { stopped++; },
      onSignal: (signal, handler) => { handlers.set(signal, handler); return () => handlers.delete(signal); },
      onDeadline: () => { events.push('deadline'); stop.dispose(); resolve(); },
    });
    stop.uploads.addEventListener('abort', () => events.push('uploads abandoned'));
    stop.all.addEventListener('abort', () => events.push('work ended'));
    void app.exited.then((how) => events.push(`app ended by ${how.signal}`));
    t.notOk(stop.requested);
    t.equal(stop.uploadsLeft(), undefined, 'no stop: no time set for the uploads');
    const wait = setInterval(() => {
      if (!output.includes('ready')) return;
      clearInterval(wait);
      handlers.get('SIGTERM')!();
      handlers.get('SIGTERM')!(); // a second SIGTERM changes nothing
      t.ok(stop.requested);
      const left = stop.uploadsLeft()!;
      t.ok(left <= 3000 - ABANDON_MS && left > 3000 - ABANDON_MS - 500, `uploads abandoned in ${left} ms (deadline less ${ABANDON_MS} ms)`);
    }, 20);
  });
  await deadline;
  t.equal(stopped, 1, 'one stop');
  t.same(events, ['app got SIGTERM', 'app ended by SIGKILL', 'uploads abandoned', 'work ended', 'deadline']);
  t.match(log.lines.join('\n'), new RegExp(`did not stop within ${(3000 - KILL_APP_MS) / 1000}\\.0 s of SIGTERM; SIGKILL`));
  t.ok(END_WORK_MS > 0);
});

t.test('a deadline aborts its earlier part first, and a parent aborts both with its reason', async (t) => {
  const order: string[] = [];
  const alive = setInterval(() => undefined, 1000); // deadline timers never keep a process alive themselves
  t.teardown(() => clearInterval(alive));
  const whole = deadlineIn(300, 'whole');
  const part = whole.before(200, 'part');
  part.signal.addEventListener('abort', () => order.push(`part: ${(part.signal.reason as Error).message}`));
  whole.signal.addEventListener('abort', () => order.push(`whole: ${(whole.signal.reason as Error).message}`));
  await new Promise((r) => whole.signal.addEventListener('abort', r));
  t.same(order, ['part: part', 'whole: whole']);
  t.equal(whole.left(), 0);
  const parent = new AbortController();
  const child = deadlineIn(60_000, 'never', Date.now, [parent.signal]);
  parent.abort(new Error('stopping'));
  t.equal((child.signal.reason as Error).message, 'stopping');
});
