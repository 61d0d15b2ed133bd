// Finding the object store among the app's bound services (VCAP_SERVICES), and reading
// its credentials whatever broker wrote them. Field names differ per broker, so each
// setting is looked up under all the names we know (see SUPPORTED_BINDING_SHAPES).
//
// Which service is the store:
//   1. POSTMORTEM_SERVICE=<name> picks that service; a missing name is a problem.
//   2. Else a service whose name contains "postmortem" or whose tags include "postmortem".
//      Two or more of these is a problem (set POSTMORTEM_SERVICE).
//   3. Else the only S3 service (known broker label, or tag "s3"). With two or more,
//      none is used and a warning says how to choose: they may be the app's own buckets.
//
// Accepted credential shapes (every field name below may be mixed with the others):
//
//   generic / user-provided:
//     { "bucket": "crash-dumps", "access_key_id": "AKIA…", "secret_access_key": "…",
//       "region": "eu-central-1", "endpoint": "https://s3.example.com",
//       "prefix": "team-a", "session_token": "…", "path_style": true }
//     `host` may stand for `endpoint`.
//   AWS service broker (aws-s3, GOV.UK PaaS aws-s3-bucket):
//     { "bucket_name": "…", "aws_access_key_id": "…", "aws_secret_access_key": "…",
//       "region": "eu-west-1" }   (or "bucket_region" / "aws_region")
//   MinIO / Ceph RGW brokers:
//     { "endpoint_url": "http://minio.internal:9000", "accessKey": "…", "secretKey": "…",
//       "bucket": "…" }
//     or { "host": "rgw.internal", "port": 7480, "use_ssl": false, "access_key": "…",
//       "secret_key": "…", "bucket": "…" }   (`insecure: true` also means plain http)
//   Dell ECS broker:
//     { "endpoint": "https://ecs.example.com:9021", "accessKey": "…", "secretKey": "…",
//       "bucket": "…" }
//   One URI (`uri` or `url`), URL-decoded; separate fields win over its parts:
//     { "uri": "s3://KEY:SECRET@rgw.example.com:7480/bucket/prefix" }   (s3:// means https)
//     { "url": "https://KEY:SECRET@minio.example.com/bucket" }
import type { Env, S3Credentials } from './types.ts';
import { problem, shown, type Findings } from './problems.ts';
import { parseBoolean, readSetting } from './settings.ts';
import { isRecord, parseJsonObject } from './json.ts';
import { normalizeEndpoint } from './endpoint.ts';

export interface ServiceInstance {
  name: string;
  label: string;
  tags: readonly string[];
  credentials: Readonly<Record<string, unknown>>;
}

/** What a binding says about the store; every part may be missing. */
export interface StoreBinding {
  service: string;
  bucket?: string;
  prefix?: string;
  /** Normalised http(s) URL. */
  endpoint?: string;
  region?: string;
  forcePathStyle?: boolean;
  credentials?: S3Credentials;
}

export { SUPPORTED_BINDING_SHAPES, type BindingShape } from './binding-shapes.ts';

/** Tag or name fragment that marks a service as meant for us. */
export const POSTMORTEM_TAG = 'postmortem';

/** Labels of S3 brokers we recognise when no service is marked for us. */
export const S3_BROKER_LABELS: readonly string[] = [
  'aws-s3',
  'aws-s3-bucket',
  's3',
  'minio',
  'ecs-bucket',
  'ceph-s3',
  'dynstrg',
];

const FIELDS = {
  bucket: ['bucket', 'bucket_name', 'bucketName'],
  prefix: ['prefix'],
  accessKeyId: ['access_key_id', 'aws_access_key_id', 'accessKey', 'access_key', 'accessKeyId'],
  secretAccessKey: ['secret_access_key', 'aws_secret_access_key', 'secretKey', 'secret_key', 'secretAccessKey'],
  sessionToken: ['session_token', 'aws_session_token', 'sessionToken'],
  region: ['region', 'bucket_region', 'aws_region'],
  endpoint: ['endpoint', 'endpoint_url', 'host'],
  port: ['port'],
  useSsl: ['use_ssl', 'useSSL'],
  insecure: ['insecure'],
  pathStyle: ['path_style', 'force_path_style', 'pathStyle', 'forcePathStyle'],
  uri: ['uri', 'url'],
} as const;

/** The services in VCAP_SERVICES; malformed JSON is a warning (its text is never echoed). */
export function readServices(env: Env, findings: Findings): ServiceInstance[] {
  const text = readSetting(env, 'VCAP_SERVICES');
  if (text === undefined) return [];
  const parsed = parseJsonObject(text);
  if (parsed === undefined) {
    findings.warnings.push('VCAP_SERVICES is not a JSON object, so bound services are ignored.');
    return [];
  }
  const services: ServiceInstance[] = [];
  for (const [label, entries] of Object.entries(parsed)) {
    if (!Array.isArray(entries)) continue;
    for (const entry of entries) {
      if (!isRecord(entry) || typeof entry.name !== 'string') continue;
      services.push({
        name: entry.name,
        label: typeof entry.label === 'string' ? entry.label : label,
        tags: Array.isArray(entry.tags) ? entry.tags.filter((t): t is string => typeof t === 'string') : [],
        credentials: isRecord(entry.credentials) ? entry.credentials : {},
      });
    }
  }
  return services;
}

/** The service to use as the store, or undefined; see the rules at the top of this file. */
export function selectStoreService(
  services: readonly ServiceInstance[],
  requestedName: string | undefined,
  findings: Findings,
): ServiceInstance | undefined {
  if (requestedName !== undefined) {
    const chosen = services.find((s) => s.name === requestedName);
    if (chosen === undefined) {
      findings.problems.push(
        problem({
          setting: 'POSTMORTEM_SERVICE',
          received: shown(requestedName),
          expected: `the name of a bound service (bound: ${namesOf(services)})`,
          fix:
            `bind it with "cf bind-service APP ${requestedName}" and restage, ` +
            'or set POSTMORTEM_SERVICE to one of the bound names',
        }),
      );
    }
    return chosen;
  }
  const marked = services.filter(isMarkedForUs);
  if (marked.length === 1) return marked[0];
  if (marked.length > 1) {
    findings.problems.push(
      problem({
        setting: 'VCAP_SERVICES',
        verb: 'has',
        received: `${marked.length} services named or tagged "${POSTMORTEM_TAG}" (${namesOf(marked)})`,
        expected: 'at most one service named or tagged postmortem',
        fix: 'set POSTMORTEM_SERVICE to the name of the one to use',
      }),
    );
    return undefined;
  }
  const s3 = services.filter(isS3Service);
  if (s3.length === 1) return s3[0];
  if (s3.length > 1) {
    findings.warnings.push(
      `Several S3 services are bound (${namesOf(s3)}) and none is named or tagged "${POSTMORTEM_TAG}", ` +
        'so none is used as the store. To use one, set POSTMORTEM_SERVICE to its name or tag it postmortem.',
    );
  }
  return undefined;
}

/** Reads a service's credentials, recording a problem for each incomplete part. */
export function readStoreBinding(service: ServiceInstance, findings: Findings): StoreBinding {
  const where = `service "${service.name}" (VCAP_SERVICES)`;
  const creds = service.credentials;
  const binding: StoreBinding = { service: service.name };
  if (Object.keys(creds).length === 1 && 'credhub-ref' in creds) {
    findings.problems.push(
      problem({
        setting: where,
        verb: 'has',
        received: 'an unresolved CredHub reference as credentials',
        expected: 'resolved credentials',
        fix: 'run through the Cloud Foundry launcher (which resolves CredHub references), or bind the service again',
      }),
    );
    return binding;
  }

  const fromUri = readCredentialUri(creds, where, findings);
  const bucket = textField(creds, FIELDS.bucket) ?? fromUri?.bucket;
  if (bucket !== undefined) binding.bucket = bucket;
  const prefix = textField(creds, FIELDS.prefix) ?? fromUri?.prefix;
  if (prefix !== undefined) binding.prefix = cleanPrefix(prefix);
  const region = textField(creds, FIELDS.region);
  if (region !== undefined) binding.region = region;
  const pathStyle = flagField(creds, FIELDS.pathStyle);
  if (pathStyle !== undefined) binding.forcePathStyle = pathStyle;

  const endpoint = readBindingEndpoint(creds, where, findings) ?? fromUri?.endpoint;
  if (endpoint !== undefined) binding.endpoint = endpoint;

  const accessKeyId = textField(creds, FIELDS.accessKeyId) ?? fromUri?.accessKeyId;
  const secretAccessKey = textField(creds, FIELDS.secretAccessKey) ?? fromUri?.secretAccessKey;
  const sessionToken = textField(creds, FIELDS.sessionToken);
  if (accessKeyId !== undefined && secretAccessKey !== undefined) {
    binding.credentials = s3Credentials(accessKeyId, secretAccessKey, sessionToken);
  } else if (accessKeyId !== undefined || secretAccessKey !== undefined) {
    const missing =
      accessKeyId === undefined
        ? { has: 'a secret key', lacks: 'access key id', names: FIELDS.accessKeyId }
        : { has: 'an access key id', lacks: 'secret key', names: FIELDS.secretAccessKey };
    findings.problems.push(
      problem({
        setting: where,
        verb: 'has',
        received: `${missing.has} but no ${missing.lacks}`,
        expected: `the ${missing.lacks} as well, under one of ${missing.names.join(', ')}`,
        fix:
          `add ${missing.names[0]} to the service's credentials (user-provided: ` +
          `cf update-user-provided-service ${service.name} -p '{…}'), or bind the service again`,
      }),
    );
  }
  return binding;
}

export function s3Credentials(accessKeyId: string, secretAccessKey: string, sessionToken?: string): S3Credentials {
  return sessionToken === undefined ? { accessKeyId, secretAccessKey } : { accessKeyId, secretAccessKey, sessionToken };
}

/** Selection and reading in one: the store binding, or undefined when none applies. */
export function findStoreBinding(env: Env, findings: Findings): StoreBinding | undefined {
  const services = readServices(env, findings);
  const service = selectStoreService(services, readSetting(env, 'POSTMORTEM_SERVICE'), findings);
  return service === undefined ? undefined : readStoreBinding(service, findings);
}

function readBindingEndpoint(creds: Readonly<Record<string, unknown>>, where: string, findings: Findings): string | undefined {
  const raw = textField(creds, FIELDS.endpoint);
  if (raw === undefined) return undefined;
  const insecure = flagField(creds, FIELDS.insecure);
  const useSsl = flagField(creds, FIELDS.useSsl);
  const port = textField(creds, FIELDS.port);
  const endpoint = normalizeEndpoint(raw, {
    allowBareHost: true,
    useTls: insecure === true ? false : useSsl,
    ...(port === undefined ? {} : { port }),
  });
  if (endpoint === undefined) {
    findings.problems.push(
      problem({
        setting: `${where} endpoint`,
        received: shown(raw),
        expected: 'a host name or an http(s) URL without user, password or query, such as https://s3.example.com',
        fix: "correct the endpoint in the service's credentials",
      }),
    );
  }
  return endpoint;
}

interface UriParts {
  endpoint?: string;
  bucket?: string;
  prefix?: string;
  accessKeyId?: string;
  secretAccessKey?: string;
}

/** `s3://KEY:SECRET@host[:port]/bucket[/prefix]` or `https://KEY:SECRET@host/bucket`. */
function readCredentialUri(creds: Readonly<Record<string, unknown>>, where: string, findings: Findings): UriParts | undefined {
  const raw = textField(creds, FIELDS.uri);
  if (raw === undefined) return undefined;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return undefined;
  }
  // An https URL without a user is usually a dashboard link, not a store.
  const isS3 = url.protocol === 's3:';
  if (!isS3 && !((url.protocol === 'https:' || url.protocol === 'http:') && url.username !== '')) return undefined;
  const parts: UriParts = {};
  try {
    if (url.username !== '') parts.accessKeyId = decodeURIComponent(url.username);
    if (url.password !== '') parts.secretAccessKey = decodeURIComponent(url.password);
  } catch {
    findings.problems.push(
      problem({
        setting: `${where} uri`,
        received: 'a user or password that is not valid URL encoding',
        expected: 'percent-encoded user and password',
        fix: "correct the uri in the service's credentials",
      }),
    );
  }
  if (url.hostname !== '') {
    const scheme = isS3 ? 'https:' : url.protocol;
    parts.endpoint = `${scheme}//${url.host}`;
  }
  const [bucket, ...rest] = url.pathname.split('/').filter((s) => s !== '');
  if (bucket !== undefined) parts.bucket = bucket;
  if (rest.length > 0) parts.prefix = rest.join('/');
  return parts;
}

function textField(creds: Readonly<Record<string, unknown>>, names: readonly string[]): string | undefined {
  for (const name of names) {
    const value = creds[name];
    if (typeof value === 'number' && Number.isFinite(value)) return String(value);
    if (typeof value === 'string' && value.trim() !== '') return value.trim();
  }
  return undefined;
}

function flagField(creds: Readonly<Record<string, unknown>>, names: readonly string[]): boolean | undefined {
  for (const name of names) {
    const value = creds[name];
    if (typeof value === 'boolean') return value;
    if (typeof value === 'string') {
      const parsed = parseBoolean(value);
      if (parsed !== undefined) return parsed;
    }
  }
  return undefined;
}

/** Without leading/trailing or doubled slashes. */
export function cleanPrefix(prefix: string): string {
  return prefix
    .split('/')
    .filter((s) => s !== '')
    .join('/');
}

function isMarkedForUs(service: ServiceInstance): boolean {
  return (
    service.name.toLowerCase().includes(POSTMORTEM_TAG) || service.tags.some((t) => t.toLowerCase() === POSTMORTEM_TAG)
  );
}

function isS3Service(service: ServiceInstance): boolean {
  return S3_BROKER_LABELS.includes(service.label.toLowerCase()) || service.tags.some((t) => t.toLowerCase() === 's3');
}

function namesOf(services: readonly ServiceInstance[]): string {
  return services.length === 0 ? 'none' : services.map((s) => `"${s.name}"`).join(', ');
}
