import t from 'tap';
import { PartPool } from '../../src/store/part-pool.ts';

t.test('never more than count buffers; released ones are reused, waiters served in order', async (t) => {
  const pool = new PartPool(1024, 2);
  t.equal(pool.capacityBytes, 2048);
  const a = await pool.acquire();
  const b = await pool.acquire();
  t.equal(pool.allocatedCount, 2);
  const served: string[] = [];
  const c = pool.acquire().then((buf) => { served.push('c'); return buf; });
  const d = pool.acquire().then((buf) => { served.push('d'); return buf; });
  pool.release(a);
  t.equal(await c, a, 'the released buffer itself, not a new one');
  pool.release(b);
  t.equal(await d, b);
  t.same(served, ['c', 'd']);
  t.equal(pool.allocatedCount, 2);
  t.equal(pool.peakInUse, 2, 'handed from one user to the next, never more than count lent');
  pool.release(await c);
  pool.release(await d);
  t.equal(pool.peakInUse, 2);
  t.equal(await pool.acquire(), b, 'released buffers are lent again, nothing new allocated');
  t.equal(pool.allocatedCount, 2);
});

t.test('a waiter is released by its abort signal', async (t) => {
  const pool = new PartPool(16, 1);
  const held = await pool.acquire();
  const controller = new AbortController();
  const waiting = pool.acquire(controller.signal);
  controller.abort(new Error('deadline'));
  await t.rejects(waiting, { name: 'AbortError', message: /deadline/ });
  pool.release(held);
  t.equal(await pool.acquire(), held, 'the aborted waiter did not take the buffer');
  await t.rejects(pool.acquire(AbortSignal.abort()), { name: 'AbortError' });
  t.throws(() => new PartPool(0, 1), /positive/);
});
