// The store an end-to-end test file uploads into: the run's S3 server (Ceph RGW when it is
// installed), a fresh bucket, the app environment that points the buildpack at it, and a
// plain SDK client (not our code) to read back what landed there.
import { GetObjectCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import type { Test } from 'tap';
import { startS3Server, uniqueBucketName, type S3TestServer } from './s3-server.ts';

export interface TestStore {
  s3: S3TestServer;
  bucket: string;
  /** The app's environment for POSTMORTEM_STORE=s3://bucket/<prefix> with this server's keys. */
  env(prefix: string): Record<string, string>;
  client: S3Client;
  get(key: string): Promise<Buffer>;
  /** Every key under the prefix, read from the server with the plain client. */
  list(prefix: string): Promise<string[]>;
}

export async function testStore(t: Test, bucketBase: string): Promise<TestStore> {
  const s3 = await startS3Server({ kind: 'best' });
  t.teardown(() => s3.stop());
  const bucket = uniqueBucketName(bucketBase);
  await s3.createBucket(bucket);
  const client = new S3Client({
    endpoint: s3.endpoint, region: s3.region, forcePathStyle: true,
    credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
    requestChecksumCalculation: 'WHEN_REQUIRED', responseChecksumValidation: 'WHEN_REQUIRED',
  });
  t.teardown(() => client.destroy());
  return {
    s3,
    bucket,
    client,
    env: (prefix) => ({
      POSTMORTEM_STORE: `s3://${bucket}/${prefix}`, AWS_ENDPOINT_URL: s3.endpoint, AWS_ACCESS_KEY_ID: s3.accessKeyId,
      AWS_SECRET_ACCESS_KEY: s3.secretAccessKey, AWS_REGION: s3.region,
    }),
    async get(key) {
      const res = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
      return Buffer.from(await res.Body!.transformToByteArray());
    },
    async list(prefix) {
      const keys: string[] = [];
      let token: string | undefined;
      do {
        const page = await client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ...(token ? { ContinuationToken: token } : {}) }));
        keys.push(...(page.Contents ?? []).map((o) => o.Key!));
        token = page.NextContinuationToken;
      } while (token);
      return keys;
    },
  };
}
