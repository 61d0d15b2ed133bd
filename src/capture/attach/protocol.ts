// HotSpot's attach protocol on Linux, version 1, over a connected unix socket:
//   request  "1\0" <command>\0 <arg0>\0 <arg1>\0 <arg2>\0   (exactly three arguments, empty ones too)
//   answer   <decimal result code>\n <output …> then the JVM closes the connection
// The JVM rejects (closes without a word) a command longer than 16 bytes, an argument longer
// than 1024 bytes, or a request with a different number of strings; a version other than "1"
// is answered with the code 101. One operation per connection.
import { PassThrough } from 'node:stream';
import type { Socket } from 'node:net';
import { AttachError } from './types.ts';

export const PROTOCOL_VERSION = '1';
export const NAME_MAX_BYTES = 16;
export const ARG_MAX_BYTES = 1024;
export const ARG_COUNT = 3;
/** What a JVM answers to a protocol version it does not speak. */
export const CODE_BAD_VERSION = 101;
const CODE_LINE_MAX = 32;

/** The request bytes; throws a 'usage' AttachError for what the JVM would silently reject. */
export function encodeRequest(command: string, args: readonly string[]): Buffer {
  const check = (what: string, value: string, max: number): void => {
    if (value.includes('\0')) throw new AttachError('usage', `${what} must not contain a NUL character`);
    const bytes = Buffer.byteLength(value, 'utf8');
    if (bytes > max) throw new AttachError('usage', `${what} is ${bytes} bytes long; the JVM accepts at most ${max}`);
  };
  if (command.length === 0) throw new AttachError('usage', 'the attach command is empty');
  check(`the attach command "${command}"`, command, NAME_MAX_BYTES);
  if (args.length > ARG_COUNT) {
    throw new AttachError('usage', `the attach protocol carries at most ${ARG_COUNT} arguments, got ${args.length}`);
  }
  const padded = [...args, ...Array<string>(ARG_COUNT - args.length).fill('')];
  padded.forEach((arg, i) => check(`argument ${i + 1}`, arg, ARG_MAX_BYTES));
  return Buffer.from([PROTOCOL_VERSION, command, ...padded].map((s) => `${s}\0`).join(''), 'utf8');
}

/** "0" → 0, "-1" → -1; undefined for anything else. */
export function parseCodeLine(line: string): number | undefined {
  return /^-?\d{1,10}$/.test(line) ? Number(line) : undefined;
}

/**
 * Sends the request on a connected socket and resolves with the result code once its line has
 * arrived; the rest of the answer flows through `output`. Rejects with 'refused' when the JVM
 * closes without answering, 'protocol' for a malformed or version-mismatch answer.
 */
export function exchange(socket: Socket, request: Buffer, pid: number): Promise<{ code: number; output: PassThrough }> {
  return new Promise((resolve, reject) => {
    let head = Buffer.alloc(0);
    const cleanup = (): void => {
      socket.off('data', onData);
      socket.off('end', onEnd);
      socket.off('error', onError);
      socket.off('close', onEnd);
    };
    const fail = (error: Error): void => {
      cleanup();
      socket.destroy();
      reject(error);
    };
    const onError = (error: Error): void => fail(error);
    const onEnd = (): void => {
      if (head.length === 0) {
        fail(
          new AttachError(
            'refused',
            `JVM ${pid} closed the attach connection without answering: it accepts only its own effective uid and gid (or root), and drops requests it cannot parse`,
            { pid },
          ),
        );
      } else {
        fail(new AttachError('protocol', `JVM ${pid} closed the attach connection after "${head.toString('latin1')}" without a result line`, { pid }));
      }
    };
    const onData = (chunk: Buffer): void => {
      head = Buffer.concat([head, chunk]);
      const newline = head.indexOf(0x0a);
      if (newline < 0) {
        if (head.length > CODE_LINE_MAX) fail(new AttachError('protocol', `JVM ${pid} answered without a result line: "${head.subarray(0, 64).toString('latin1')}…"`, { pid }));
        return;
      }
      const line = head.subarray(0, newline).toString('latin1').trim();
      const code = parseCodeLine(line);
      if (code === undefined) {
        fail(new AttachError('protocol', `JVM ${pid} answered with "${line.slice(0, 64)}" where a result code belongs`, { pid }));
        return;
      }
      if (code === CODE_BAD_VERSION) {
        fail(new AttachError('protocol', `JVM ${pid} does not speak attach protocol version ${PROTOCOL_VERSION} (it answered ${CODE_BAD_VERSION})`, { pid }));
        return;
      }
      cleanup();
      socket.pause();
      const output = new PassThrough();
      const rest = head.subarray(newline + 1);
      if (rest.length > 0) output.write(rest);
      socket.on('error', (error) => output.destroy(error));
      output.on('close', () => socket.destroy());
      socket.pipe(output);
      resolve({ code, output });
    };
    socket.on('data', onData);
    socket.on('end', onEnd);
    socket.on('close', onEnd);
    socket.on('error', onError);
    socket.write(request);
  });
}
