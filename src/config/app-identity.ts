// Who the crashed instance was, from VCAP_APPLICATION and CF_INSTANCE_*. Identity only
// labels evidence, so nothing here is ever a problem: every field has a fallback, and a
// malformed VCAP_APPLICATION is a warning.
import type { AppIdentity, Env } from './types.ts';
import type { Findings } from './problems.ts';
import { readSetting } from './settings.ts';
import { isRecord, parseJsonObject } from './json.ts';

export const UNKNOWN = {
  name: 'unknown-app',
  guid: 'unknown-app-guid',
  space: 'unknown-space',
  org: 'unknown-org',
  instanceGuid: 'unknown-instance',
  processType: 'unknown',
} as const;

export function readAppIdentity(env: Env, findings: Findings): AppIdentity {
  const vcap = readVcapApplication(env, findings);
  const field = (key: string): string | undefined => scalar(vcap?.[key]);
  const limits = vcap !== undefined && isRecord(vcap.limits) ? vcap.limits : {};

  const identity: AppIdentity = {
    name: field('application_name') ?? field('name') ?? UNKNOWN.name,
    guid: field('application_id') ?? UNKNOWN.guid,
    space: field('space_name') ?? UNKNOWN.space,
    org: field('organization_name') ?? UNKNOWN.org,
    instanceIndex: readSetting(env, 'CF_INSTANCE_INDEX') ?? field('instance_index') ?? '0',
    instanceGuid: readSetting(env, 'CF_INSTANCE_GUID') ?? field('instance_id') ?? UNKNOWN.instanceGuid,
    processType: processTypeOf(vcap),
  };
  const ip = readSetting(env, 'CF_INSTANCE_IP');
  if (ip !== undefined) identity.instanceIp = ip;
  // MEMORY_LIMIT is what the platform sets (e.g. "1024m"); limits.mem is the same in MB. Our
  // profile.d script lowers the app's MEMORY_LIMIT and keeps the container's in the other.
  const mem = readSetting(env, 'POSTMORTEM_CONTAINER_MEMORY_LIMIT') ?? readSetting(env, 'MEMORY_LIMIT') ?? withMegabytes(scalar(limits.mem));
  if (mem !== undefined) identity.memoryLimit = mem;
  const disk = withMegabytes(scalar(limits.disk));
  if (disk !== undefined) identity.diskLimit = disk;
  return identity;
}

/** Tasks' VCAP_APPLICATION has no instance_index and no process_type. */
function processTypeOf(vcap: Record<string, unknown> | undefined): string {
  const declared = scalar(vcap?.process_type);
  if (declared !== undefined) return declared;
  if (vcap !== undefined && vcap.instance_index === undefined) return 'task';
  return UNKNOWN.processType;
}

function readVcapApplication(env: Env, findings: Findings): Record<string, unknown> | undefined {
  const text = readSetting(env, 'VCAP_APPLICATION');
  if (text === undefined) return undefined;
  const parsed = parseJsonObject(text);
  if (parsed !== undefined) return parsed;
  findings.warnings.push(
    'VCAP_APPLICATION is not a JSON object, so the app name, space and org are recorded as unknown.',
  );
  return undefined;
}

function scalar(value: unknown): string | undefined {
  if (typeof value === 'string' && value.trim() !== '') return value.trim();
  if (typeof value === 'number' && Number.isFinite(value)) return String(value);
  return undefined;
}

function withMegabytes(value: string | undefined): string | undefined {
  return value === undefined ? undefined : /^\d+$/.test(value) ? `${value}m` : value;
}
