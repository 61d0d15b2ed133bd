import t, { type Test } from 'tap';
import {
  SUPPORTED_BINDING_SHAPES,
  findStoreBinding,
  readServices,
  readStoreBinding,
  selectStoreService,
  type ServiceInstance,
} from '../../src/config/bindings.ts';
import { normalizeEndpoint } from '../../src/config/endpoint.ts';
import { newFindings, type Findings } from '../../src/config/problems.ts';
import { SECRETS, vcapServices } from './fixtures.ts';

function service(name: string, credentials: Record<string, unknown>, label = 'user-provided', tags: string[] = []): ServiceInstance {
  return { name, label, tags, credentials };
}

function assertNoSecrets(t: Test, findings: Findings): void {
  const text = [...findings.problems, ...findings.warnings].join('\n');
  for (const secret of Object.values(SECRETS)) {
    t.notOk(text.includes(secret), `no secret in messages (${secret.slice(0, 10)}…)`);
  }
  t.notOk(text.includes(encodeURIComponent(SECRETS.uri)), 'no URL-encoded secret either');
}

t.test('generic / user-provided shape', async (t) => {
  const findings = newFindings();
  const binding = readStoreBinding(
    service('dumps', {
      bucket: 'crash-dumps',
      prefix: '/team-a/',
      access_key_id: 'AKIAGENERIC',
      secret_access_key: SECRETS.generic,
      session_token: SECRETS.token,
      region: 'eu-central-1',
      endpoint: 'https://s3.example.com/',
      path_style: 'false',
    }),
    findings,
  );
  t.same(findings, { problems: [], warnings: [] });
  t.same(binding, {
    service: 'dumps',
    bucket: 'crash-dumps',
    prefix: 'team-a',
    region: 'eu-central-1',
    forcePathStyle: false,
    endpoint: 'https://s3.example.com',
    credentials: { accessKeyId: 'AKIAGENERIC', secretAccessKey: SECRETS.generic, sessionToken: SECRETS.token },
  });
});

t.test('generic shape with host instead of endpoint', async (t) => {
  const findings = newFindings();
  const binding = readStoreBinding(
    service('dumps', { bucket: 'b1b', host: 's3.example.com', access_key_id: 'K', secret_access_key: SECRETS.generic }),
    findings,
  );
  t.same(findings.problems, []);
  t.equal(binding.endpoint, 'https://s3.example.com', 'a bare host becomes https');
});

t.test('AWS service broker shape', async (t) => {
  for (const regionField of ['region', 'bucket_region', 'aws_region']) {
    const findings = newFindings();
    const binding = readStoreBinding(
      service(
        'aws-bucket',
        {
          bucket_name: 'cf-2eac2d52',
          aws_access_key_id: 'AKIAAWS',
          aws_secret_access_key: SECRETS.aws,
          [regionField]: 'eu-west-2',
        },
        'aws-s3',
      ),
      findings,
    );
    t.same(findings.problems, [], regionField);
    t.same(binding, {
      service: 'aws-bucket',
      bucket: 'cf-2eac2d52',
      region: 'eu-west-2',
      credentials: { accessKeyId: 'AKIAAWS', secretAccessKey: SECRETS.aws },
    });
  }
});

t.test('MinIO shape with endpoint_url and camelCase keys', async (t) => {
  const findings = newFindings();
  const binding = readStoreBinding(
    service(
      'minio',
      { endpoint_url: 'http://minio.internal:9000', accessKey: 'minio-user', secretKey: SECRETS.minio, bucket: 'dumps' },
      'minio',
    ),
    findings,
  );
  t.same(findings.problems, []);
  t.same(binding, {
    service: 'minio',
    bucket: 'dumps',
    endpoint: 'http://minio.internal:9000',
    credentials: { accessKeyId: 'minio-user', secretAccessKey: SECRETS.minio },
  });
});

t.test('Ceph RGW shape with host, port and TLS flags', async (t) => {
  const cases: [Record<string, unknown>, string][] = [
    [{ host: 'rgw.internal', port: 7480, use_ssl: false }, 'http://rgw.internal:7480'],
    [{ host: 'rgw.internal', port: '7480', use_ssl: 'false' }, 'http://rgw.internal:7480'],
    [{ host: 'rgw.internal', port: 443, use_ssl: true }, 'https://rgw.internal'],
    [{ host: 'rgw.internal', port: 8443 }, 'https://rgw.internal:8443'],
    [{ host: 'rgw.internal', insecure: true }, 'http://rgw.internal'],
    [{ host: 'http://rgw.internal:7480', port: 9999 }, 'http://rgw.internal:7480'],
  ];
  for (const [fields, endpoint] of cases) {
    const findings = newFindings();
    const binding = readStoreBinding(
      service('rgw', { ...fields, access_key: 'rgw-user', secret_key: SECRETS.rgw, bucket: 'dumps' }, 'ceph-s3'),
      findings,
    );
    t.same(findings.problems, [], JSON.stringify(fields));
    t.equal(binding.endpoint, endpoint, JSON.stringify(fields));
    t.same(binding.credentials, { accessKeyId: 'rgw-user', secretAccessKey: SECRETS.rgw });
  }
});

t.test('Dell ECS broker shape', async (t) => {
  const findings = newFindings();
  const binding = readStoreBinding(
    service(
      'ecs',
      { endpoint: 'https://ecs.example.com:9021', accessKey: 'ecs-user', secretKey: SECRETS.ecs, bucket: 'dumps' },
      'ecs-bucket',
    ),
    findings,
  );
  t.same(findings.problems, []);
  t.same(binding, {
    service: 'ecs',
    bucket: 'dumps',
    endpoint: 'https://ecs.example.com:9021',
    credentials: { accessKeyId: 'ecs-user', secretAccessKey: SECRETS.ecs },
  });
});

t.test('single s3:// uri, URL-decoded', async (t) => {
  const findings = newFindings();
  const uri = `s3://AKIA%2BURI:${encodeURIComponent(SECRETS.uri)}@rgw.example.com:7480/crash-dumps/team-a/sub`;
  const binding = readStoreBinding(service('uri', { uri }), findings);
  t.same(findings.problems, []);
  t.same(binding, {
    service: 'uri',
    bucket: 'crash-dumps',
    prefix: 'team-a/sub',
    endpoint: 'https://rgw.example.com:7480',
    credentials: { accessKeyId: 'AKIA+URI', secretAccessKey: SECRETS.uri },
  });
});

t.test('single https url with credentials', async (t) => {
  const findings = newFindings();
  const binding = readStoreBinding(service('url', { url: `https://KEY:${SECRETS.generic}@minio.example.com/dumps` }), findings);
  t.same(findings.problems, []);
  t.same(binding, {
    service: 'url',
    bucket: 'dumps',
    endpoint: 'https://minio.example.com',
    credentials: { accessKeyId: 'KEY', secretAccessKey: SECRETS.generic },
  });
});

t.test('separate fields win over the parts of a uri', async (t) => {
  const findings = newFindings();
  const binding = readStoreBinding(
    service('mixed', {
      uri: `s3://URIKEY:${encodeURIComponent(SECRETS.uri)}@s3-us-gov-west-1.amazonaws.com/uri-bucket`,
      bucket: 'field-bucket',
      access_key_id: 'FIELDKEY',
      secret_access_key: SECRETS.generic,
      region: 'us-gov-west-1',
    }),
    findings,
  );
  t.same(findings.problems, []);
  t.equal(binding.bucket, 'field-bucket');
  t.equal(binding.endpoint, 'https://s3-us-gov-west-1.amazonaws.com');
  t.same(binding.credentials, { accessKeyId: 'FIELDKEY', secretAccessKey: SECRETS.generic });
});

t.test('an https url without user is not a store (dashboard links)', async (t) => {
  const findings = newFindings();
  const binding = readStoreBinding(
    service('dash', { url: 'https://console.example.com/buckets/x', bucket: 'dumps', access_key_id: 'K', secret_access_key: SECRETS.generic }),
    findings,
  );
  t.same(findings.problems, []);
  t.equal(binding.endpoint, undefined);
  t.equal(binding.bucket, 'dumps');
});

t.test('every documented shape is accepted as written', async (t) => {
  t.ok(SUPPORTED_BINDING_SHAPES.length >= 6);
  for (const shape of SUPPORTED_BINDING_SHAPES) {
    const findings = newFindings();
    const binding = readStoreBinding(service('doc', { ...shape.example }), findings);
    t.same(findings.problems, [], shape.name);
    t.ok(binding.bucket, `${shape.name}: bucket`);
    t.ok(binding.credentials, `${shape.name}: credentials`);
  }
});

t.test('an incomplete binding names the service and the missing field', async (t) => {
  const findings = newFindings();
  readStoreBinding(service('half-a', { bucket: 'dumps', access_key_id: 'AKIAHALF' }), findings);
  readStoreBinding(service('half-b', { bucket: 'dumps', secretKey: SECRETS.minio }, 'minio'), findings);
  t.equal(findings.problems.length, 2);
  t.match(findings.problems[0], /service "half-a".*no secret key.*secret_access_key/);
  t.match(findings.problems[1], /service "half-b".*no access key id.*access_key_id/);
  for (const p of findings.problems) t.match(p, /Fix: /);
  assertNoSecrets(t, findings);
});

t.test('a bad endpoint in a binding is a problem, credentials in it are hidden', async (t) => {
  const findings = newFindings();
  readStoreBinding(
    service('bad', { bucket: 'dumps', endpoint: `ftp://user:${SECRETS.generic}@x`, access_key_id: 'K', secret_access_key: 'x' }),
    findings,
  );
  readStoreBinding(
    service('bad2', { bucket: 'dumps', endpoint: `user:${SECRETS.rgw}@rgw.internal`, access_key_id: 'K', secret_access_key: 'x' }),
    findings,
  );
  t.equal(findings.problems.length, 2);
  t.match(findings.problems[0], /service "bad".*endpoint is "ftp:\/\/\*\*\*@x"/);
  t.match(findings.problems[1], /service "bad2".*endpoint is "\*\*\*@rgw.internal"/);
  assertNoSecrets(t, findings);
});

t.test('an unresolved CredHub reference is a problem', async (t) => {
  const findings = newFindings();
  readStoreBinding(service('vault', { 'credhub-ref': '/c/broker/guid/credentials' }), findings);
  t.equal(findings.problems.length, 1);
  t.match(findings.problems[0], /service "vault".*CredHub/);
});

t.test('selection: a service tagged or named postmortem wins over S3 services', async (t) => {
  const others = [service('app-data', {}, 'aws-s3', ['s3']), service('db', {}, 'postgres')];
  let findings = newFindings();
  t.equal(selectStoreService([...others, service('dumps', {}, 'user-provided', ['postmortem'])], undefined, findings)?.name, 'dumps');
  t.equal(selectStoreService([...others, service('my-PostMortem-store', {})], undefined, findings)?.name, 'my-PostMortem-store');
  t.equal(selectStoreService([...others, service('x', {}, 'minio', ['PostMortem'])], undefined, findings)?.name, 'x');
  t.same(findings, { problems: [], warnings: [] });

  findings = newFindings();
  t.equal(selectStoreService(others, undefined, findings)?.name, 'app-data', 'the only S3 service');
  t.same(findings, { problems: [], warnings: [] });
});

t.test('selection: recognised S3 labels and the s3 tag', async (t) => {
  for (const label of ['aws-s3', 'aws-s3-bucket', 's3', 'minio', 'ecs-bucket', 'ceph-s3', 'dynstrg']) {
    t.equal(selectStoreService([service('one', {}, label)], undefined, newFindings())?.name, 'one', label);
  }
  t.equal(selectStoreService([service('tagged', {}, 'custom', ['S3'])], undefined, newFindings())?.name, 'tagged');
  t.equal(selectStoreService([service('db', {}, 'postgres')], undefined, newFindings()), undefined);
  t.equal(selectStoreService([], undefined, newFindings()), undefined);
});

t.test('selection: several S3 services and none marked is a warning, none used', async (t) => {
  const findings = newFindings();
  const chosen = selectStoreService([service('a', {}, 'aws-s3'), service('b', {}, 'minio')], undefined, findings);
  t.equal(chosen, undefined);
  t.same(findings.problems, []);
  t.equal(findings.warnings.length, 1);
  t.match(findings.warnings[0], /"a", "b".*POSTMORTEM_SERVICE/);
});

t.test('selection: several postmortem services is a problem naming them', async (t) => {
  const findings = newFindings();
  const chosen = selectStoreService(
    [service('postmortem-1', {}), service('dumps', {}, 'minio', ['postmortem'])],
    undefined,
    findings,
  );
  t.equal(chosen, undefined);
  t.equal(findings.problems.length, 1);
  t.match(findings.problems[0], /"postmortem-1", "dumps".*set POSTMORTEM_SERVICE/);
});

t.test('selection: POSTMORTEM_SERVICE picks by name, or names the bound ones', async (t) => {
  const services = [service('postmortem-1', {}), service('dumps-2', {}, 'minio', ['postmortem']), service('db', {}, 'postgres')];
  let findings = newFindings();
  t.equal(selectStoreService(services, 'dumps-2', findings)?.name, 'dumps-2');
  t.equal(selectStoreService(services, 'db', findings)?.name, 'db', 'explicit choice is not second-guessed');
  t.same(findings.problems, []);

  findings = newFindings();
  t.equal(selectStoreService(services, 'nope', findings), undefined);
  t.equal(findings.problems.length, 1);
  t.match(findings.problems[0], /^POSTMORTEM_SERVICE is "nope".*"postmortem-1", "dumps-2", "db".*Fix: /);

  findings = newFindings();
  selectStoreService([], 'nope', findings);
  t.match(findings.problems[0], /bound: none/);
});

t.test('readServices: real VCAP_SERVICES, malformed JSON is a warning that echoes nothing', async (t) => {
  let findings = newFindings();
  const services = readServices(
    {
      VCAP_SERVICES: vcapServices(
        { name: 'dumps', tags: ['postmortem'], credentials: { bucket: 'b' } },
        { name: 'data', label: 'aws-s3', credentials: {} },
      ),
    },
    findings,
  );
  t.same(
    services.map((s) => [s.name, s.label, s.tags]),
    [
      ['dumps', 'user-provided', ['postmortem']],
      ['data', 'aws-s3', []],
    ],
  );
  t.same(findings, { problems: [], warnings: [] });

  findings = newFindings();
  t.same(readServices({ VCAP_SERVICES: `{"user-provided":[{"credentials":{"secret":"${SECRETS.generic}"` }, findings), []);
  t.equal(findings.warnings.length, 1);
  t.match(findings.warnings[0], /VCAP_SERVICES is not a JSON object/);
  assertNoSecrets(t, findings);

  t.same(readServices({ VCAP_SERVICES: '[]' }, newFindings()), []);
  t.same(readServices({}, newFindings()), []);
});

t.test('findStoreBinding combines selection and reading', async (t) => {
  const findings = newFindings();
  const binding = findStoreBinding(
    {
      VCAP_SERVICES: vcapServices({
        name: 'crash-store',
        tags: ['postmortem'],
        credentials: { bucket: 'dumps', access_key_id: 'K', secret_access_key: SECRETS.generic },
      }),
    },
    findings,
  );
  t.equal(binding?.service, 'crash-store');
  t.equal(binding?.bucket, 'dumps');
});

t.test('normalizeEndpoint', async (t) => {
  t.equal(normalizeEndpoint('https://s3.example.com/', { allowBareHost: false }), 'https://s3.example.com');
  t.equal(normalizeEndpoint('HTTP://RGW:7480', { allowBareHost: false }), 'http://rgw:7480');
  t.equal(normalizeEndpoint('s3.example.com', { allowBareHost: false }), undefined, 'env vars need a scheme');
  t.equal(normalizeEndpoint('s3.example.com', { allowBareHost: true }), 'https://s3.example.com');
  t.equal(normalizeEndpoint('s3.example.com', { allowBareHost: true, useTls: false, port: '80' }), 'http://s3.example.com');
  t.equal(normalizeEndpoint('ftp://x', { allowBareHost: true }), undefined);
  t.equal(normalizeEndpoint('https://u:p@x', { allowBareHost: true }), undefined);
  t.equal(normalizeEndpoint('https://x/?a=1', { allowBareHost: true }), undefined);
  t.equal(normalizeEndpoint('https://', { allowBareHost: true }), undefined);
});
