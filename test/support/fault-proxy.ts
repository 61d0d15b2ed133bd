// A loopback HTTP proxy in front of the test S3 server that breaks the store on purpose, the
// way real links and servers break: it can swallow requests and never answer (a black
// hole), squeeze every byte through one slow link, reset a connection in the middle of a
// part, answer bursts of 5xx, or refuse every connection for a while (down, then back).
// Headers pass unchanged, so SigV4 signatures stay valid. Faults are chosen per request by
// a rule, so a test can break only report.json, only parts, or everything, and change its
// mind while the watchdog runs.
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export interface ProxiedRequest {
  method: string;
  /** Object key (path without the bucket), decoded. */
  key: string;
  query: URLSearchParams;
  /** Counts requests that matched the same method, key and query (1 = first attempt). */
  attempt: number;
}

export type Fault =
  | { kind: 'black-hole' }
  | { kind: 'status'; status: number }
  | { kind: 'reset'; afterBytes: number }
  | undefined;

export interface FaultProxy {
  endpoint: string;
  seen: ProxiedRequest[];
  /** Chooses the fault for each request (undefined: pass it on). */
  rule: (request: ProxiedRequest) => Fault;
  /** Shared bandwidth of the link in bytes per second, both ways; 0 = unlimited. */
  bytesPerSecond: number;
  /** While true, every new connection is closed at once (the store is down). */
  down: boolean;
  /** Connections refused while down. */
  refused: number;
  /** Down from now until `ms` after the first connection it refuses (then back). */
  outage(ms: number): void;
  stop(): Promise<void>;
}

/** One link shared by every connection: a chunk may go when the link has sent the ones before. */
class SlowLink {
  private freeAt = 0;
  constructor(private readonly proxy: { bytesPerSecond: number }) {}
  delayFor(bytes: number): number {
    const rate = this.proxy.bytesPerSecond;
    if (rate <= 0) return 0;
    const now = Date.now();
    this.freeAt = Math.max(this.freeAt, now) + (bytes / rate) * 1000;
    return this.freeAt - now;
  }
}

/** Copies from -> to through the link, pausing the source while a chunk waits. */
function throughLink(from: NodeJS.ReadableStream, to: NodeJS.WritableStream, link: SlowLink, onBytes: (n: number) => boolean): void {
  from.on('data', (chunk: Buffer) => {
    if (!onBytes(chunk.length)) return;
    const wait = link.delayFor(chunk.length);
    from.pause();
    setTimeout(() => {
      if (!to.write(chunk)) to.once('drain', () => from.resume());
      else from.resume();
    }, wait);
  });
  from.on('end', () => setTimeout(() => to.end(), link.delayFor(0)));
}

export async function startFaultProxy(upstream: string, bucket: string): Promise<FaultProxy> {
  const target = new URL(upstream);
  const sockets = new Set<Socket>();
  const attempts = new Map<string, number>();
  // Its own upstream connections, closed by stop(): kept-alive sockets in Node's global agent
  // would hold the test process open until the server's idle timeout (~60 s for RGW).
  const agent = new http.Agent({ keepAlive: true });
  let backAfterMs: number | undefined;
  const proxy: FaultProxy = {
    endpoint: '',
    seen: [],
    rule: () => undefined,
    bytesPerSecond: 0,
    down: false,
    refused: 0,
    outage(ms) {
      proxy.down = true;
      backAfterMs = ms;
    },
    stop: async () => {
      for (const socket of sockets) socket.destroy();
      agent.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  const up = new SlowLink(proxy);
  const down = new SlowLink(proxy);
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://proxy');
    const key = decodeURIComponent(url.pathname.replace(new RegExp(`^/${bucket}/?`), ''));
    const id = `${req.method} ${key} ${[...url.searchParams.keys()].sort().join('&')} ${url.searchParams.get('partNumber') ?? ''}`;
    const attempt = (attempts.get(id) ?? 0) + 1;
    attempts.set(id, attempt);
    const request: ProxiedRequest = { method: req.method ?? 'GET', key, query: url.searchParams, attempt };
    proxy.seen.push(request);
    const fault = proxy.rule(request);
    if (fault?.kind === 'black-hole') { req.resume(); return; } // read everything, answer nothing
    if (fault?.kind === 'status') {
      req.resume();
      res.writeHead(fault.status, { 'content-type': 'application/xml', connection: 'close' });
      res.end(`<?xml version="1.0" encoding="UTF-8"?><Error><Code>${fault.status === 503 ? 'SlowDown' : 'InternalError'}</Code><Message>injected by the fault proxy</Message></Error>`);
      return;
    }
    const forward = http.request({ host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers, agent }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      throughLink(answer, res, down, () => true);
    });
    forward.on('error', () => res.destroy());
    let sent = 0;
    throughLink(req, forward, up, (n) => {
      sent += n;
      if (fault?.kind === 'reset' && sent > fault.afterBytes) {
        req.socket.resetAndDestroy();
        forward.destroy();
        return false;
      }
      return true;
    });
  });
  server.on('connection', (socket: Socket) => {
    if (proxy.down) {
      socket.resetAndDestroy();
      proxy.refused += 1;
      if (backAfterMs !== undefined) {
        setTimeout(() => { proxy.down = false; }, backAfterMs);
        backAfterMs = undefined;
      }
      return;
    }
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  proxy.endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return proxy;
}
