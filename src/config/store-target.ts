// Where evidence goes: POSTMORTEM_STORE, a bound service, the AWS_* variables, and the
// local fallback, combined into one StoreTarget.
//
// Precedence, kept deliberately simple:
//   - POSTMORTEM_STORE=file:///abs/path → that folder; services and AWS_* are not looked at.
//   - POSTMORTEM_STORE=s3://bucket[/prefix] → that bucket and prefix (the URL's, even when
//     empty). A store service (see bindings.ts) supplies endpoint, region, path style and
//     credentials only if it names no bucket or the same bucket; otherwise it is ignored
//     with a warning.
//   - no POSTMORTEM_STORE → the store service alone (bucket required).
//   - none of these → <dumpDir>/store, flagged as fallback, with a warning.
// For each S3 part, the service wins over AWS_* variables:
//   endpoint: service, AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL (none = AWS)
//   region: service, AWS_REGION, AWS_DEFAULT_REGION, us-east-1
//   credentials: service, AWS_ACCESS_KEY_ID + AWS_SECRET_ACCESS_KEY (+ AWS_SESSION_TOKEN),
//     none = the SDK's default chain (refused with a non-AWS endpoint: it cannot work there)
//   path style: POSTMORTEM_S3_PATH_STYLE, service, true for a non-AWS endpoint
import { isAbsolute, join, normalize } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Env, FileTarget, S3Credentials, S3Target, StoreTarget } from './types.ts';
import { problem, shown, type Findings } from './problems.ts';
import { readBoolean, readChoice, readSetting, withoutTrailingSlash } from './settings.ts';
import { cleanPrefix, findStoreBinding, s3Credentials, type StoreBinding } from './bindings.ts';
import { isAwsEndpoint, normalizeEndpoint } from './endpoint.ts';

export interface StoreChoice {
  store: StoreTarget;
  storeIsFallback: boolean;
}

export const SSE_MODES = ['AES256', 'aws:kms'] as const;

export const STORAGE_CLASSES: readonly string[] = [
  'STANDARD',
  'REDUCED_REDUNDANCY',
  'STANDARD_IA',
  'ONEZONE_IA',
  'INTELLIGENT_TIERING',
  'GLACIER_IR',
  'GLACIER',
  'DEEP_ARCHIVE',
];

/** Canned ACLs we allow; public ones are refused because heap dumps hold secrets. */
export const CANNED_ACLS = ['private', 'bucket-owner-full-control', 'bucket-owner-read', 'authenticated-read'] as const;

const S3_ONLY_SETTINGS = [
  'POSTMORTEM_SSE',
  'POSTMORTEM_SSE_KMS_KEY_ID',
  'POSTMORTEM_STORAGE_CLASS',
  'POSTMORTEM_ACL',
  'POSTMORTEM_S3_PATH_STYLE',
];

const STORE_FORMS = 's3://bucket[/prefix] or file:///absolute/path';

type StoreUrl = { kind: 's3'; bucket: string; prefix: string } | { kind: 'file'; root: string };

export function resolveStore(env: Env, dumpDir: string, findings: Findings): StoreChoice {
  const storeText = readSetting(env, 'POSTMORTEM_STORE');
  const url = storeText === undefined ? undefined : parseStoreUrl(storeText, findings);

  if (url?.kind === 'file') {
    if (readSetting(env, 'POSTMORTEM_SERVICE') !== undefined) {
      findings.warnings.push('POSTMORTEM_SERVICE is ignored: POSTMORTEM_STORE names a local folder (file://).');
    }
    warnIgnoredS3Settings(env, findings);
    return { store: fileTarget(url.root, 'POSTMORTEM_STORE'), storeIsFallback: false };
  }

  const binding = findStoreBinding(env, findings);
  const options = readS3Options(env, findings);
  if (storeText !== undefined && url === undefined) {
    return { store: fallbackTarget(dumpDir), storeIsFallback: true }; // the problem is recorded
  }
  if (url?.kind === 's3') {
    const usable = binding !== undefined && (binding.bucket === undefined || binding.bucket === url.bucket);
    if (binding !== undefined && !usable) {
      findings.warnings.push(
        `Service "${binding.service}" is not used: it is for bucket "${binding.bucket}" but POSTMORTEM_STORE names ` +
          `bucket "${url.bucket}". Endpoint and credentials come from AWS_* variables instead. ` +
          'Remove POSTMORTEM_STORE to use the service, or make the buckets match.',
      );
    }
    const source = usable ? `POSTMORTEM_STORE with service "${binding.service}"` : 'POSTMORTEM_STORE';
    const target = s3Target(url.bucket, url.prefix, usable ? binding : undefined, source, options, env, findings);
    return { store: target, storeIsFallback: false };
  }
  if (binding !== undefined) {
    const source = `service "${binding.service}"`;
    if (binding.bucket === undefined) {
      findings.problems.push(
        problem({
          setting: `${source} (VCAP_SERVICES)`,
          verb: 'has',
          received: 'credentials without a bucket',
          expected: 'a bucket, under "bucket" or "bucket_name" (or in its uri)',
          fix: `add the bucket to the service's credentials, or set POSTMORTEM_STORE=s3://BUCKET[/prefix]`,
        }),
      );
      return { store: fallbackTarget(dumpDir), storeIsFallback: true };
    }
    const target = s3Target(binding.bucket, binding.prefix ?? '', binding, source, options, env, findings);
    return { store: target, storeIsFallback: false };
  }

  findings.warnings.push(
    `No store is configured, so crash evidence is kept only in the container (${fallbackTarget(dumpDir).root}) ` +
      'and is lost when the container goes, after the grace period. To keep it, set POSTMORTEM_STORE=s3://BUCKET[/prefix] ' +
      '(with AWS_* credentials) or bind a service tagged "postmortem" (cf bind-service APP SERVICE, or a ' +
      'user-provided service created with -t postmortem).',
  );
  warnIgnoredS3Settings(env, findings);
  return { store: fallbackTarget(dumpDir), storeIsFallback: true };
}

/** `s3://bucket[/prefix]` or `file:///abs/path`; undefined (and a problem) otherwise. */
export function parseStoreUrl(text: string, findings: Findings): StoreUrl | undefined {
  const report = (expected: string, fix: string): undefined => {
    findings.problems.push(problem({ setting: 'POSTMORTEM_STORE', received: shown(text), expected, fix }));
    return undefined;
  };
  const s3 = /^s3:\/\/([^/]*)(\/.*)?$/i.exec(text);
  if (s3) {
    const bucket = s3[1] ?? '';
    if (text.includes('@')) {
      return report(
        `${STORE_FORMS}, without credentials or host`,
        'put credentials in AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY and the endpoint in AWS_ENDPOINT_URL, or bind a service',
      );
    }
    if (bucket === '') return report(`${STORE_FORMS} with a bucket name`, 'write the bucket after s3://');
    if (!isPlausibleBucket(bucket)) {
      return report(
        'a bucket name of 3 to 255 letters, digits, dots, hyphens or underscores',
        'correct the bucket name in POSTMORTEM_STORE',
      );
    }
    const rest = s3[2] ?? '';
    if (/[?#]/.test(rest)) return report(`${STORE_FORMS}, without query or fragment`, 'remove the ?… or #… part');
    return { kind: 's3', bucket, prefix: cleanPrefix(rest) };
  }
  if (/^file:/i.test(text)) {
    if (!/^file:\/\/(localhost)?\//i.test(text)) {
      return report(
        'file:/// followed by an absolute path (three slashes)',
        'write the folder as file:///home/vcap/app/dumps, for example',
      );
    }
    let path: string;
    try {
      path = fileURLToPath(text);
    } catch {
      return report('a file URL of a local absolute path', 'write the folder as file:///home/vcap/app/dumps, for example');
    }
    if (!isAbsolute(path)) return report('an absolute path', 'write the folder as file:///absolute/path');
    return { kind: 'file', root: withoutTrailingSlash(normalize(path)) };
  }
  if (text.startsWith('/')) return report(STORE_FORMS, `write it as file://${text}`);
  return report(
    STORE_FORMS,
    'use s3://BUCKET[/prefix] (a custom endpoint goes in AWS_ENDPOINT_URL or a bound service), or file:///absolute/path',
  );
}

interface S3Options {
  serverSideEncryption?: 'AES256' | 'aws:kms';
  kmsKeyId?: string;
  /** Upper-cased; checked against the endpoint later (non-AWS stores have their own classes). */
  storageClass?: string;
  acl?: string;
  pathStyle?: boolean;
}

function readS3Options(env: Env, findings: Findings): S3Options {
  const options: S3Options = {};
  const sse = readChoice(env, 'POSTMORTEM_SSE', SSE_MODES, findings);
  if (sse !== undefined) options.serverSideEncryption = sse;
  const kmsKeyId = readSetting(env, 'POSTMORTEM_SSE_KMS_KEY_ID');
  if (kmsKeyId !== undefined) {
    if (sse === 'aws:kms') options.kmsKeyId = kmsKeyId;
    else {
      findings.problems.push(
        problem({
          setting: 'POSTMORTEM_SSE_KMS_KEY_ID',
          received: 'set',
          expected: `POSTMORTEM_SSE=aws:kms alongside it (POSTMORTEM_SSE is ${sse === undefined ? 'not set' : shown(sse)})`,
          fix: 'set POSTMORTEM_SSE=aws:kms, or remove POSTMORTEM_SSE_KMS_KEY_ID',
        }),
      );
    }
  }
  const storageClass = readSetting(env, 'POSTMORTEM_STORAGE_CLASS');
  if (storageClass !== undefined) options.storageClass = storageClass.toUpperCase();
  const acl = readAcl(env, findings);
  if (acl !== undefined) options.acl = acl;
  if (readSetting(env, 'POSTMORTEM_S3_PATH_STYLE') !== undefined) {
    options.pathStyle = readBoolean(env, 'POSTMORTEM_S3_PATH_STYLE', false, findings);
  }
  return options;
}

function readAcl(env: Env, findings: Findings): string | undefined {
  const text = readSetting(env, 'POSTMORTEM_ACL');
  if (text?.toLowerCase().startsWith('public-')) {
    findings.problems.push(
      problem({
        setting: 'POSTMORTEM_ACL',
        received: shown(text),
        expected: `a non-public canned ACL (${CANNED_ACLS.join(', ')}): heap dumps contain passwords and personal data`,
        fix: 'set POSTMORTEM_ACL=private, or remove it',
      }),
    );
    return undefined;
  }
  return readChoice(env, 'POSTMORTEM_ACL', CANNED_ACLS, findings);
}

function s3Target(
  bucket: string,
  prefix: string,
  binding: StoreBinding | undefined,
  source: string,
  options: S3Options,
  env: Env,
  findings: Findings,
): S3Target {
  const endpoint = binding?.endpoint ?? readEnvEndpoint(env, findings);
  const nonAwsEndpoint = endpoint !== undefined && !isAwsEndpoint(endpoint);
  const problemsBefore = findings.problems.length;
  const credentials = binding?.credentials ?? readEnvCredentials(env, findings);
  const credentialProblemSaid = findings.problems.length > problemsBefore;
  // Credentials come from the service or AWS_* only, never from the SDK's default chain: in
  // an app container that chain ends at the cloud's instance metadata, i.e. the cell's role.
  // AWS_PROFILE names a shared-credentials profile (people browsing from a laptop).
  const profile = credentials === undefined ? readSetting(env, 'AWS_PROFILE') : undefined;
  if (credentials === undefined && profile === undefined && !credentialProblemSaid) findings.problems.push(missingCredentials(source, binding));
  const target: S3Target = {
    kind: 's3',
    bucket,
    prefix,
    region: binding?.region ?? readSetting(env, 'AWS_REGION') ?? readSetting(env, 'AWS_DEFAULT_REGION') ?? 'us-east-1',
    forcePathStyle: options.pathStyle ?? binding?.forcePathStyle ?? nonAwsEndpoint,
    source,
  };
  if (endpoint !== undefined) target.endpoint = endpoint;
  if (credentials !== undefined) target.credentials = credentials;
  if (profile !== undefined) target.profile = profile;
  if (options.serverSideEncryption !== undefined) target.serverSideEncryption = options.serverSideEncryption;
  if (options.serverSideEncryption === 'AES256' && nonAwsEndpoint) {
    // Measured: Ceph RGW 16.2 answers 200 to AES256 and stores plaintext (test/store/rgw-sse.test.ts).
    findings.warnings.push(
      `POSTMORTEM_SSE=AES256 with the non-AWS endpoint ${endpoint}: some S3-compatible stores (Ceph RGW 16.2 among them) accept it ` +
        'and still store plaintext. Check the store encrypts, or use POSTMORTEM_SSE=aws:kms with POSTMORTEM_SSE_KMS_KEY_ID.',
    );
  }
  if (options.kmsKeyId !== undefined) target.kmsKeyId = options.kmsKeyId;
  if (options.acl !== undefined) target.acl = options.acl;
  const storageClass = checkStorageClass(options.storageClass, nonAwsEndpoint, findings);
  if (storageClass !== undefined) target.storageClass = storageClass;
  if (!isPlausibleBucket(bucket)) {
    findings.problems.push(
      problem({
        setting: source,
        verb: 'has',
        received: `bucket ${shown(bucket)}`,
        expected: 'a bucket name of 3 to 255 letters, digits, dots, hyphens or underscores',
        fix: 'correct the bucket name',
      }),
    );
  }
  return target;
}

function missingCredentials(source: string, binding: StoreBinding | undefined) {
  return problem({
    setting: binding === undefined ? source : `service "${binding.service}"`,
    verb: 'has',
    received: binding === undefined ? 'no credentials (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not set)' : 'no access_key_id and no secret_access_key in its credentials, and AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY are not set',
    expected: 'an access key id and secret key (the SDK default chain and instance metadata are never used)',
    fix:
      binding === undefined
        ? 'set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (cf set-env), or bind a service that carries them'
        : `add access_key_id and secret_access_key to service "${binding.service}", or set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY`,
  });
}

/** AWS names only, except on non-AWS stores (Ceph RGW defines its own storage classes). */
function checkStorageClass(storageClass: string | undefined, nonAwsEndpoint: boolean, findings: Findings): string | undefined {
  if (storageClass === undefined) return undefined;
  if (STORAGE_CLASSES.includes(storageClass)) return storageClass;
  if (nonAwsEndpoint && /^[A-Z0-9_-]{1,64}$/.test(storageClass)) return storageClass;
  findings.problems.push(
    problem({
      setting: 'POSTMORTEM_STORAGE_CLASS',
      received: shown(storageClass),
      expected: `one of ${STORAGE_CLASSES.join(', ')}${nonAwsEndpoint ? ' or a storage class name of your store' : ''}`,
      fix: 'set POSTMORTEM_STORAGE_CLASS to one of those, or remove it for the bucket default',
    }),
  );
  return undefined;
}

function readEnvEndpoint(env: Env, findings: Findings): string | undefined {
  for (const name of ['AWS_ENDPOINT_URL_S3', 'AWS_ENDPOINT_URL']) {
    const raw = readSetting(env, name);
    if (raw === undefined) continue;
    const endpoint = normalizeEndpoint(raw, { allowBareHost: false });
    if (endpoint === undefined) {
      findings.problems.push(
        problem({
          setting: name,
          received: shown(raw),
          expected: 'an http(s) URL without user, password or query, such as https://s3.example.com:7480',
          fix: `set ${name} to the store's URL, or remove it to use AWS`,
        }),
      );
    }
    return endpoint;
  }
  return undefined;
}

function readEnvCredentials(env: Env, findings: Findings): S3Credentials | undefined {
  const accessKeyId = readSetting(env, 'AWS_ACCESS_KEY_ID');
  const secretAccessKey = readSetting(env, 'AWS_SECRET_ACCESS_KEY');
  const sessionToken = readSetting(env, 'AWS_SESSION_TOKEN');
  if (accessKeyId !== undefined && secretAccessKey !== undefined) {
    return s3Credentials(accessKeyId, secretAccessKey, sessionToken);
  }
  if (accessKeyId === undefined && secretAccessKey === undefined) return undefined;
  const [present, missing] =
    accessKeyId === undefined ? ['AWS_SECRET_ACCESS_KEY', 'AWS_ACCESS_KEY_ID'] : ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY'];
  findings.problems.push(
    problem({
      setting: missing,
      received: `not set while ${present} is set`,
      expected: 'both AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or neither',
      fix: `set ${missing} too (cf set-env APP ${missing} …), or remove ${present}`,
    }),
  );
  return undefined;
}

function warnIgnoredS3Settings(env: Env, findings: Findings): void {
  const ignored = S3_ONLY_SETTINGS.filter((name) => readSetting(env, name) !== undefined);
  if (ignored.length > 0) {
    findings.warnings.push(`${ignored.join(', ')} ${ignored.length === 1 ? 'is' : 'are'} ignored: the store is a local folder.`);
  }
}

function fileTarget(root: string, source: string): FileTarget {
  return { kind: 'file', root, prefix: '', source };
}

function fallbackTarget(dumpDir: string): FileTarget {
  return fileTarget(join(dumpDir, 'store'), 'fallback (no store configured)');
}

/** Loose on purpose: Ceph RGW and ECS accept names AWS would not; the store has the last word. */
function isPlausibleBucket(bucket: string): boolean {
  return /^[A-Za-z0-9][A-Za-z0-9._-]{2,254}$/.test(bucket);
}
