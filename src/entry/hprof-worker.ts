// The heap histogram's parser in its own thread (lib/hprof-worker.mjs), so that parsing a heap
// dump runs beside the upload instead of taking turns with it on the watchdog's one thread.
// Messages in: { buffer: ArrayBuffer, length } (transferred) and { end: true }; out: { ack: length,
// buffer } per chunk, the buffer handed back for reuse (the sender bounds what is in flight and
// keeps a small pool, so no garbage piles up here), and { histogram } at the end, or as soon as
// the parser gives up (the sender then stops sending and ends the thread).
import { parentPort } from 'node:worker_threads';
import { HprofParser } from '../capture/hprof/parser.ts';
import { histogramOf } from '../capture/hprof/histogram.ts';

const port = parentPort;
if (port) {
  const parser = new HprofParser();
  port.on('message', (message: { buffer?: ArrayBuffer; length?: number; end?: boolean }) => {
    if (message.buffer) {
      // The parser copies whatever it keeps (a cut item, names), so the buffer can go back.
      parser.push(Buffer.from(message.buffer, 0, message.length ?? message.buffer.byteLength));
      port.postMessage({ ack: message.length, buffer: message.buffer }, [message.buffer]);
      if (parser.failure !== undefined) finish(); // not HPROF after all: the sender stops, this thread ends
    } else if (message.end) finish();
  });
  const finish = () => {
    port.removeAllListeners('message');
    parser.end();
    port.postMessage({ histogram: histogramOf(parser) });
    port.close();
  };
}
