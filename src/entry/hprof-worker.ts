// The heap histogram's parser in its own thread (lib/hprof-worker.mjs), so that parsing a heap
// dump runs beside the upload instead of taking turns with it on the watchdog's one thread.
// Messages in: { chunk: Uint8Array } (transferred) and { end: true }; out: { ack: bytes } per
// chunk (the sender bounds what is in flight) and { histogram } at the end.
import { parentPort } from 'node:worker_threads';
import { HprofParser } from '../capture/hprof/parser.ts';
import { histogramOf } from '../capture/hprof/histogram.ts';

const port = parentPort;
if (port) {
  const parser = new HprofParser();
  port.on('message', (message: { chunk?: Uint8Array; end?: boolean }) => {
    if (message.chunk) {
      parser.push(Buffer.from(message.chunk.buffer, message.chunk.byteOffset, message.chunk.byteLength));
      port.postMessage({ ack: message.chunk.byteLength });
    } else if (message.end) {
      parser.end();
      port.postMessage({ histogram: histogramOf(parser) });
      port.close();
    }
  });
}
