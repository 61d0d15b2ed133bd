// Part payloads are signed over plain http and sent UNSIGNED-PAYLOAD over https (TLS protects
// them; awscli does the same). Over http a hash the writer took while filling the part goes in
// the header as is, and the signer does not read the body for one. The server here is a recording https/http endpoint, not S3:
// RGW in these tests serves plain http only, and what is checked is the request the real SDK
// stack (signer included) puts on the wire, which needs no S3 behind it.
import { S3Client, UploadPartCommand } from '@aws-sdk/client-s3';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { partPayload, signsPayloads } from '../../src/store/multipart-writer.ts';

const dir = mkdtempSync(path.join(os.tmpdir(), 'pm-tls-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=127.0.0.1',
  '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', path.join(dir, 'key.pem'), '-out', path.join(dir, 'cert.pem')], { stdio: 'ignore' });
const cert = readFileSync(path.join(dir, 'cert.pem'));
const key = readFileSync(path.join(dir, 'key.pem'));

interface Seen { headers: http.IncomingHttpHeaders; body: Buffer }

async function recordOnePart(protocol: 'http' | 'https', body: Buffer, sha256?: string): Promise<Seen> {
  let seen: Seen | undefined;
  const handler = (request: http.IncomingMessage, response: http.ServerResponse) => {
    const chunks: Buffer[] = [];
    request.on('data', (c: Buffer) => chunks.push(c));
    request.on('end', () => {
      seen = { headers: request.headers, body: Buffer.concat(chunks) };
      response.writeHead(200, { ETag: '"recorded"' }).end();
    });
  };
  const server = protocol === 'https' ? https.createServer({ cert, key }, handler) : http.createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  const client = new S3Client({
    endpoint: `${protocol}://127.0.0.1:${port}`, region: 'us-east-1', forcePathStyle: true,
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
    requestChecksumCalculation: 'WHEN_REQUIRED',
    requestHandler: { httpsAgent: new https.Agent({ ca: cert }) },
  });
  try {
    await client.send(partPayload(new UploadPartCommand({ Bucket: 'b', Key: 'k', UploadId: 'u', PartNumber: 1, Body: body, ContentLength: body.length }), sha256));
  } finally {
    client.destroy();
    await new Promise((resolve) => server.close(resolve));
  }
  if (!seen) throw new Error('the recording server saw no request');
  return seen;
}

const part = Buffer.alloc(256 * 1024, 'postmortem ');

t.test('https: the part goes UNSIGNED-PAYLOAD, the rest of the request is still signed', async (t) => {
  const seen = await recordOnePart('https', part);
  t.equal(seen.headers['x-amz-content-sha256'], 'UNSIGNED-PAYLOAD');
  t.match(seen.headers['authorization'], /^AWS4-HMAC-SHA256 Credential=test\/.*Signature=[0-9a-f]{64}$/);
  t.ok(seen.body.equals(part), 'the body arrived whole');
});

t.test('plain http: the part payload is signed with its sha256', async (t) => {
  const seen = await recordOnePart('http', part);
  t.equal(seen.headers['x-amz-content-sha256'], createHash('sha256').update(part).digest('hex'));
  t.ok(seen.body.equals(part), 'the body arrived whole');
});

t.test('plain http with the hash taken while the part filled: the header carries that hash as is', async (t) => {
  const taken = createHash('sha256').update(part).digest('hex');
  const seen = await recordOnePart('http', part, taken);
  t.equal(seen.headers['x-amz-content-sha256'], taken);
  // A stand-in hash shows it is used as given, not recomputed from the body (the server here checks nothing).
  const standIn = 'a'.repeat(64);
  t.equal((await recordOnePart('http', part, standIn)).headers['x-amz-content-sha256'], standIn);
});

t.test('https ignores a hash taken while filling: still UNSIGNED-PAYLOAD', async (t) => {
  const seen = await recordOnePart('https', part, 'a'.repeat(64));
  t.equal(seen.headers['x-amz-content-sha256'], 'UNSIGNED-PAYLOAD');
});

t.test('the writer hashes parts itself only for an http:// endpoint', async (t) => {
  const clientFor = (endpoint?: string) => new S3Client({ region: 'us-east-1', credentials: { accessKeyId: 'a', secretAccessKey: 'b' }, ...(endpoint ? { endpoint } : {}) });
  t.equal(await signsPayloads(clientFor('http://127.0.0.1:9000')), true);
  t.equal(await signsPayloads(clientFor('https://s3.example.com')), false);
  t.equal(await signsPayloads(clientFor()), false, "AWS's own endpoints are https");
});
