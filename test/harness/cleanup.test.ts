// The test harness cleans up after a test file that tap's timeout kills: its temp folders
// are removed and every process it launched is gone, including one in its own session.
import t from 'tap';
import { stat } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { execa } from 'execa';
import { alive } from '../support/processes.ts';


async function sleepersOf(owner: number): Promise<number[]> {
  const { stdout } = await execa('bash', ['-c', `grep -lz "POSTMORTEM_TEST_OWNER=${owner}-" /proc/[0-9]*/environ 2>/dev/null | cut -d/ -f3`], { reject: false });
  return stdout.split('\n').filter(Boolean).map(Number);
}

for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  t.test(`a test file ended by ${signal}`, async (t) => {
    const child = execa('node', ['--import', 'tsx', 'test/fixtures/harness/leaky.ts'], { reject: false, buffer: true });
    const dir = await new Promise<string>((resolve, reject) => {
      child.stdout?.on('data', (chunk: Buffer) => { const m = /^ready (\S+)$/m.exec(chunk.toString()); if (m) resolve(m[1]!); });
      void child.then((r) => reject(new Error(`fixture ended early: ${r.stderr}`)));
    });
    const deadline = Date.now() + 30_000;
    let sleepers: number[] = [];
    while (sleepers.length < 3 && Date.now() < deadline) sleepers = await sleepersOf(child.pid!).finally(() => sleep(50));
    t.ok(sleepers.length >= 3, `the launched tree is running (${sleepers.length} marked processes)`);
    child.kill(signal);
    await child;
    t.equal(await stat(dir).then(() => 'still there', () => 'removed'), 'removed', 'temp folder removed');
    for (const pid of sleepers) {
      const until = Date.now() + 10_000;
      while (await alive(pid) && Date.now() < until) await sleep(50);
      t.notOk(await alive(pid), `launched process ${pid} is gone`);
    }
  });
}
