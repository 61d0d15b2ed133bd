// The attach protocol's bytes, and how answers are read, against a small unix-socket server
// standing in for the JVM (the real JVMs are in hotspot.test.ts).
import t, { type Test } from 'tap';
import { rm } from 'node:fs/promises';
import { createConnection, createServer, type Socket } from 'node:net';
import path from 'node:path';
import { encodeRequest, exchange, parseCodeLine } from '../../../src/capture/attach/protocol.ts';
import { AttachError } from '../../../src/capture/attach/types.ts';
import { tempDir } from '../../support/temp.ts';

t.test('a request is the version, the command and exactly three arguments, each NUL-terminated', async (t) => {
  t.equal(encodeRequest('threaddump', []).toString('latin1'), '1\0threaddump\0\0\0\0');
  t.equal(encodeRequest('dumpheap', ['/tmp/x.hprof', '-all', '1']).toString('latin1'), '1\0dumpheap\0/tmp/x.hprof\0-all\x001\0');
  t.equal(encodeRequest('jcmd', ['VM.version']).toString('latin1'), '1\0jcmd\0VM.version\0\0\0');
  t.equal(encodeRequest('jcmd', ['Thread.print ü']).length, '1\0jcmd\0Thread.print \0\0\0'.length + 2, 'UTF-8');
});

t.test('what the JVM would silently drop is refused here, with the reason', async (t) => {
  const usage = (fn: () => unknown, message: RegExp): void => {
    try {
      fn();
      t.fail(`expected a usage error matching ${message}`);
    } catch (error) {
      t.ok(error instanceof AttachError && error.reason === 'usage', 'a usage AttachError');
      t.match((error as Error).message, message);
    }
  };
  usage(() => encodeRequest('a-command-name-longer', []), /is 21 bytes long; the JVM accepts at most 16/);
  usage(() => encodeRequest('', []), /empty/);
  usage(() => encodeRequest('jcmd', ['a', 'b', 'c', 'd']), /at most 3 arguments, got 4/);
  usage(() => encodeRequest('jcmd', ['x'.repeat(1025)]), /argument 1 is 1025 bytes long/);
  usage(() => encodeRequest('jcmd', ['ü'.repeat(513)]), /argument 1 is 1026 bytes long/);
  usage(() => encodeRequest('jcmd', ['', 'a\0b']), /argument 2 must not contain a NUL/);
  t.doesNotThrow(() => encodeRequest('jcmd', ['x'.repeat(1024)]));
});

t.test('result codes', async (t) => {
  t.equal(parseCodeLine('0'), 0);
  t.equal(parseCodeLine('-1'), -1);
  t.equal(parseCodeLine('101'), 101);
  t.equal(parseCodeLine(''), undefined);
  t.equal(parseCodeLine('ok'), undefined);
  t.equal(parseCodeLine('1.5'), undefined);
});

/** A fake JVM: reads one request, hands it and the socket to `answer`. */
async function fakeJvm(t: Test, answer: (request: Buffer, socket: Socket) => void): Promise<{ path: string; requests: Buffer[] }> {
  const dir = await tempDir('pm-attach-proto-');
  const socketPath = path.join(dir, '.java_pid1');
  const requests: Buffer[] = [];
  const server = createServer((socket) => {
    let got = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      got = Buffer.concat([got, chunk]);
      if (got.filter((b) => b === 0).length === 5) {
        requests.push(got);
        answer(got, socket);
      }
    });
    socket.on('error', () => {});
  });
  await new Promise<void>((resolve) => server.listen(socketPath, resolve));
  t.teardown(async () => {
    await new Promise((resolve) => server.close(resolve));
    await rm(dir, { recursive: true, force: true });
  });
  return { path: socketPath, requests };
}

function connected(socketPath: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = createConnection({ path: socketPath }, () => resolve(socket));
    socket.once('error', reject);
  });
}

async function text(stream: AsyncIterable<Buffer>): Promise<string> {
  let out = '';
  for await (const chunk of stream) out += chunk.toString();
  return out;
}

t.test('the result code line, then the output until the JVM closes, however it is split', async (t) => {
  const jvm = await fakeJvm(t, (_request, socket) => {
    socket.write('0');
    setTimeout(() => socket.write('\nline 1\n'), 10);
    setTimeout(() => socket.end('line 2\n'), 20);
  });
  const request = encodeRequest('threaddump', []);
  const { code, output } = await exchange(await connected(jvm.path), request, 42);
  t.equal(code, 0);
  t.equal(await text(output), 'line 1\nline 2\n');
  t.same(jvm.requests, [request]);
});

t.test('a negative result code and the output in the same packet', async (t) => {
  const jvm = await fakeJvm(t, (_request, socket) => socket.end('-1\njava.lang.IllegalArgumentException: Unknown diagnostic command\n'));
  const { code, output } = await exchange(await connected(jvm.path), encodeRequest('jcmd', ['x']), 42);
  t.equal(code, -1);
  t.equal(await text(output), 'java.lang.IllegalArgumentException: Unknown diagnostic command\n');
});

t.test('closed without a word (what a JVM does to a peer of another uid/gid): refused', async (t) => {
  const jvm = await fakeJvm(t, (_request, socket) => socket.end());
  await t.rejects(exchange(await connected(jvm.path), encodeRequest('threaddump', []), 42), {
    name: 'AttachError',
    reason: 'refused',
    message: /JVM 42 closed the attach connection without answering: it accepts only its own effective uid and gid \(or root\)/,
  });
});

t.test('protocol errors: another version, garbage, no result line', async (t) => {
  const cases: [string, RegExp][] = [
    ['101\n', /does not speak attach protocol version 1 \(it answered 101\)/],
    ['HTTP/1.1 400 Bad Request\r\n\r\n', /answered with "HTTP\/1\.1 400 Bad Request" where a result code belongs/],
    ['0', /closed the attach connection after "0" without a result line/],
    ['x'.repeat(100), /answered without a result line/],
  ];
  for (const [answer, message] of cases) {
    const jvm = await fakeJvm(t, (_request, socket) => socket.end(answer));
    await t.rejects(exchange(await connected(jvm.path), encodeRequest('threaddump', []), 42), { reason: 'protocol', message }, JSON.stringify(answer));
  }
});
