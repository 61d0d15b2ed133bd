// A loopback TCP proxy that caps bandwidth like a thin egress link: one token bucket per
// direction, shared by every connection (a link, not a per-connection limit). Each chunk is
// released when the link would have finished sending the bytes before it; the source is
// paused meanwhile, so memory stays at one chunk per connection.
import net from 'node:net';
import { performance } from 'node:perf_hooks';

class Link {
  /** performance.now() at which everything accepted so far has been sent. */
  #busyUntil = 0;

  constructor(readonly bytesPerSecond: number, readonly burstBytes: number) {}

  /** Milliseconds to wait before `bytes` more may go. */
  reserve(bytes: number): number {
    const now = performance.now();
    const earliest = now - (this.burstBytes / this.bytesPerSecond) * 1000;
    this.#busyUntil = Math.max(this.#busyUntil, earliest) + (bytes / this.bytesPerSecond) * 1000;
    return Math.max(0, this.#busyUntil - now);
  }
}

function shape(from: net.Socket, to: net.Socket, link: Link): void {
  from.on('data', (chunk: Buffer) => {
    const wait = link.reserve(chunk.length);
    const send = () => {
      if (to.destroyed) return;
      if (!to.write(chunk)) {
        to.once('drain', () => from.resume());
      } else {
        from.resume();
      }
    };
    from.pause();
    if (wait < 1) send();
    else setTimeout(send, wait);
  });
  from.on('end', () => to.end());
}

export interface ThrottledProxy {
  endpoint: string;
  close(): Promise<void>;
}

/** Listens on 127.0.0.1 (a free port) and forwards to target at bytesPerSecond each way. */
export async function startThrottledProxy(target: { host: string; port: number }, bytesPerSecond: number): Promise<ThrottledProxy> {
  const up = new Link(bytesPerSecond, 256 * 1024);
  const down = new Link(bytesPerSecond, 256 * 1024);
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect(target.port, target.host);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.setNoDelay(true);
      s.once('close', () => sockets.delete(s));
      s.on('error', () => { client.destroy(); upstream.destroy(); });
    }
    client.once('close', () => upstream.destroy());
    upstream.once('close', () => client.destroy());
    shape(client, upstream, up);
    shape(upstream, client, down);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as net.AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    close: () => new Promise((resolve) => {
      for (const s of sockets) s.destroy();
      server.close(() => resolve());
    }),
  };
}
