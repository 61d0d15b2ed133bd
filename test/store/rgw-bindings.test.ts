// Every credential shape the buildpack accepts from VCAP_SERVICES, filled with the real RGW's
// endpoint and keys, must end in an object stored on that RGW: the binding is read by the
// same parseConfig the watchdog uses, and the upload goes through the same store.
import t from 'tap';
import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { SUPPORTED_BINDING_SHAPES } from '../../src/config/parse.ts';
import { parseConfig } from '../../src/config/parse.ts';
import { openStore } from '../../src/store/open-store.ts';
import { storeBytes } from '../../src/store/pipeline.ts';
import { rgwForThisFile } from '../support/rgw/for-tests.ts';
import { uniqueBucketName } from '../support/s3-server.ts';

const server = await rgwForThisFile(t);
if (server) {
  const bucket = uniqueBucketName('bindings');
  await server.createBucket(bucket);
  const endpoint = new URL(server.endpoint);

  /** The example's fields, each given this RGW's value by what the field means. */
  function filled(example: Readonly<Record<string, unknown>>): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    for (const [field, value] of Object.entries(example)) {
      if (/^(uri|url)$/.test(field)) {
        out[field] = `http://${encodeURIComponent(server!.accessKeyId)}:${encodeURIComponent(server!.secretAccessKey)}@${endpoint.host}/${bucket}/via-uri`;
      } else if (/secret/i.test(field)) out[field] = server!.secretAccessKey;
      else if (/access/i.test(field)) out[field] = server!.accessKeyId;
      else if (/bucket_region|region/i.test(field)) out[field] = server!.region;
      else if (/bucket/i.test(field)) out[field] = bucket;
      else if (/^(endpoint|endpoint_url)$/.test(field)) out[field] = server!.endpoint;
      else if (field === 'host') out[field] = endpoint.hostname;
      else if (field === 'port') out[field] = Number(endpoint.port);
      else if (field === 'use_ssl') out[field] = false;
      else if (field === 'path_style') out[field] = true;
      else out[field] = value;
    }
    return out;
  }

  for (const shape of SUPPORTED_BINDING_SHAPES) {
    t.test(`binding shape: ${shape.name}`, async (t) => {
      const credentials = filled(shape.example);
      // AWS-broker shapes carry no endpoint: the platform would reach AWS; here the endpoint
      // comes from the environment, as an operator of an S3-compatible store would set it.
      const needsEndpoint = !Object.keys(credentials).some((k) => /^(endpoint|endpoint_url|host|uri|url)$/.test(k));
      const env = {
        VCAP_SERVICES: JSON.stringify({ 'user-provided': [{ name: 'dumps', label: 'user-provided', tags: ['postmortem'], credentials }] }),
        ...(needsEndpoint ? { AWS_ENDPOINT_URL: server.endpoint } : {}),
      };
      const { config } = parseConfig(env);
      t.equal(config.store.kind, 's3');
      const store = openStore(config.store, { partSize: config.partSize, queueSize: config.queueSize });
      t.teardown(() => store.close());
      const key = `${config.store.prefix ? `${config.store.prefix}/` : ''}shape-${shape.name.replace(/\W+/g, '-')}.txt`;
      const record = await storeBytes(store, key, `stored through "${shape.name}"\n`, { contentType: 'text/plain' });
      t.ok(record.verified, `${record.location} confirmed by RGW`);
      // Checked with a plain client holding the server's own keys, not with our store.
      const client = new S3Client({ endpoint: server.endpoint, region: server.region, forcePathStyle: true, credentials: { accessKeyId: server.accessKeyId, secretAccessKey: server.secretAccessKey } });
      t.teardown(() => client.destroy());
      const body = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key })).then((r) => r.Body!.transformToString());
      t.equal(body, `stored through "${shape.name}"\n`, 'the object holds exactly what was sent');
    });
  }
}
