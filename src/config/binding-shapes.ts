// The credential shapes bindings.ts accepts, as data for the README (which will list them)
// and for a test that feeds every example through the real reader.

export interface BindingShape {
  name: string;
  /** A credentials object as it appears in VCAP_SERVICES (values made up, all accepted as is). */
  example: Readonly<Record<string, unknown>>;
  /** Alternatives and optional fields. */
  notes: string;
}

export const SUPPORTED_BINDING_SHAPES: readonly BindingShape[] = [
  {
    name: 'generic / user-provided service',
    example: {
      bucket: 'crash-dumps',
      prefix: 'team-a',
      access_key_id: 'AKIAEXAMPLE',
      secret_access_key: 'example-secret',
      region: 'eu-central-1',
      endpoint: 'https://s3.example.com',
      path_style: true,
    },
    notes:
      'Create with: cf create-user-provided-service NAME -t postmortem -p \'{…}\'. `host` may stand for `endpoint`; ' +
      'prefix, session_token, region, endpoint and path_style are optional.',
  },
  {
    name: 'AWS service broker (aws-s3) and similar AWS brokers',
    example: {
      bucket_name: 'crash-dumps',
      aws_access_key_id: 'AKIAEXAMPLE',
      aws_secret_access_key: 'example-secret',
      region: 'eu-west-1',
    },
    notes: 'The region may also be called bucket_region or aws_region.',
  },
  {
    name: 'MinIO / Ceph RGW brokers (endpoint URL)',
    example: {
      endpoint_url: 'http://minio.internal:9000',
      accessKey: 'minio-user',
      secretKey: 'example-secret',
      bucket: 'crash-dumps',
    },
    notes: 'Keys may also be access_key/access_key_id and secret_key/secret_access_key; endpoint_url may be endpoint.',
  },
  {
    name: 'MinIO / Ceph RGW brokers (host, port and TLS flag)',
    example: {
      host: 'rgw.internal',
      port: 7480,
      use_ssl: false,
      access_key: 'rgw-user',
      secret_key: 'example-secret',
      bucket: 'crash-dumps',
    },
    notes: 'A host without scheme means https unless use_ssl is false or insecure is true.',
  },
  {
    name: 'Dell ECS broker',
    example: {
      endpoint: 'https://ecs.example.com:9021',
      accessKey: 'ecs-user',
      secretKey: 'example-secret',
      bucket: 'crash-dumps',
    },
    notes: '',
  },
  {
    name: 'one URI',
    example: { uri: 's3://KEY:SECRET@rgw.example.com:7480/crash-dumps/team-a' },
    notes:
      'Under uri or url; s3:// means https, https://KEY:SECRET@host/bucket works too. User and password are ' +
      'URL-decoded. Separate fields, when present, win over the parts of the URI.',
  },
];
