// A Readable over an async generator that can be stopped while the generator waits.
// Readable.from destroys its source by calling the generator's return() or throw(), and an
// async generator only acts on those at its next yield: one waiting for something that never
// comes (a dump whose writer stalled, a tar stuck on a hung file) would go on waiting past the
// deadline that destroyed it, holding its file or its child process. Here `stop` runs first,
// and must end that wait (wake the loop, kill the child); the generator then finishes its
// cleanup as usual.
import { Readable, type ReadableOptions } from 'node:stream';

export function stoppableReadable(generator: AsyncGenerator<Buffer, void, undefined>, stop: () => void, options: ReadableOptions = {}): Readable {
  const iterator: AsyncIterableIterator<Buffer> = {
    next: () => generator.next(),
    return: (value?: unknown) => { stop(); return generator.return(value as undefined); },
    throw: (error?: unknown) => { stop(); return generator.throw(error); },
    [Symbol.asyncIterator]() { return iterator; },
  };
  return Readable.from(iterator, { objectMode: false, ...options });
}
