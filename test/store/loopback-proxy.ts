// A tiny real HTTP proxy on 127.0.0.1 in front of the test S3 server: it records what the
// client sent and can refuse some requests, e.g. HEAD with 403 like a write-only policy.
// Headers (Host included) pass unchanged, so SigV4 signatures stay valid.
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface SeenRequest {
  method: string;
  path: string;
  query: URLSearchParams;
  headers: http.IncomingHttpHeaders;
}

export interface LoopbackProxy {
  endpoint: string;
  seen: SeenRequest[];
  stop(): Promise<void>;
}

export async function startLoopbackProxy(
  upstream: string,
  refuse: (request: SeenRequest) => number | undefined = () => undefined,
  /** Called with the size of each request body chunk as it is forwarded upstream. */
  onBodyBytes?: (bytes: number) => void,
): Promise<LoopbackProxy> {
  const target = new URL(upstream);
  const seen: SeenRequest[] = [];
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://proxy');
    const request: SeenRequest = { method: req.method ?? 'GET', path: url.pathname, query: url.searchParams, headers: req.headers };
    seen.push(request);
    const status = refuse(request);
    if (status !== undefined) {
      req.resume();
      res.writeHead(status, { 'content-length': '0' }).end();
      return;
    }
    const forward = http.request(
      { host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers },
      (upstreamRes) => {
        res.writeHead(upstreamRes.statusCode ?? 502, upstreamRes.headers);
        upstreamRes.pipe(res);
      },
    );
    forward.on('error', () => res.destroy());
    if (onBodyBytes) req.on('data', (chunk: Buffer) => onBodyBytes(chunk.length));
    req.pipe(forward);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    seen,
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
