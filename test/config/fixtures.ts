// Realistic Cloud Foundry environments for the config tests. Secrets are distinctive so a
// test can assert that none of them ever shows up in a message.

export interface ServiceEntry {
  name: string;
  label?: string;
  tags?: string[];
  credentials: Record<string, unknown>;
}

/** VCAP_SERVICES as Cloud Foundry writes it: services grouped by label. */
export function vcapServices(...entries: ServiceEntry[]): string {
  const byLabel: Record<string, unknown[]> = {};
  for (const entry of entries) {
    const label = entry.label ?? 'user-provided';
    (byLabel[label] ??= []).push({
      binding_guid: '44ceb72f-100b-4f50-87a2-7809c8b42b8d',
      binding_name: null,
      credentials: entry.credentials,
      instance_guid: 'ab4a6f57-df74-4ba1-b8b4-0c7d7ba6f7c1',
      instance_name: entry.name,
      label,
      name: entry.name,
      plan: label === 'user-provided' ? undefined : 'standard',
      provider: null,
      syslog_drain_url: '',
      tags: entry.tags ?? [],
      volume_mounts: [],
    });
  }
  return JSON.stringify(byLabel);
}

export const VCAP_APPLICATION = JSON.stringify({
  application_id: '3f1c5a38-5b1e-4c0e-9d61-2a8bf1f0a0a1',
  application_name: 'orders',
  application_uris: ['orders.apps.example.com'],
  cf_api: 'https://api.example.com',
  limits: { disk: 1024, fds: 16384, mem: 1024 },
  name: 'orders',
  organization_id: '0ab5a5b8-8f7d-4e1e-bb9c-8a39c22c5e01',
  organization_name: 'acme',
  process_id: '3f1c5a38-5b1e-4c0e-9d61-2a8bf1f0a0a1',
  process_type: 'web',
  space_id: '7d9c3a1e-2b4f-4c1d-9e8a-6f5b4c3d2e1f',
  space_name: 'production',
  uris: ['orders.apps.example.com'],
  version: 'b2d0c6a4-1e3f-4a5b-8c7d-9e0f1a2b3c4d',
  instance_id: 'f9e8d7c6-b5a4-4321-8765-4321fedcba98',
  instance_index: 2,
});

/** What a running web instance sees, without any store configuration. */
export const LAUNCH_ENV: Readonly<Record<string, string>> = {
  VCAP_APPLICATION,
  CF_INSTANCE_INDEX: '2',
  CF_INSTANCE_GUID: 'f9e8d7c6-b5a4-4321-8765-4321fedcba98',
  CF_INSTANCE_IP: '10.0.16.5',
  MEMORY_LIMIT: '1024m',
  TMPDIR: '/home/vcap/tmp',
  HOME: '/home/vcap/app',
};

export const SECRETS = {
  generic: 'S3CR3T-generic-9f8e7d6c5b4a',
  aws: 'S3CR3T-aws-broker-1a2b3c4d5e',
  minio: 'S3CR3T-minio-zyxwvutsrq',
  rgw: 'S3CR3T-rgw-0011223344',
  ecs: 'S3CR3T-ecs-5566778899',
  uri: 'S3CR3T/uri+with=chars',
  env: 'S3CR3T-env-aaaabbbbcccc',
  token: 'S3CR3T-session-token-ddddeeee',
} as const;
