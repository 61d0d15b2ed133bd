// The app's environment as the report shows it: enough to understand the crash (limits,
// JVM options, buildpack settings), with every secret removed. VCAP_SERVICES is reduced to
// the names and labels of the bound services; secret-named variables are masked; secret
// values anywhere else (a password inside JAVA_OPTS, a URL's password) are scrubbed.
import { collectSecrets, isSecretName, scrubSecrets } from '../config/secrets.ts';
import type { Env } from '../config/types.ts';

const MASK = '***';
/** -Dsomething.password=value, --api-token=value: secret-named options inside a value. */
const SECRET_OPTION = /((?:-D|--)[\w.-]*(?:secret|passw(?:or)?d|token|private[_.-]?key|api[_.-]?key|credential)[\w.-]*=)(\S+)/gi;
/** Our own hand-over variables are noise in a report. */
const OMIT = /^(POSTMORTEM_APP_NODE_OPTIONS|POSTMORTEM_APP_HAD_NODE_OPTIONS|_)$/;

export function redactedEnvironment(env: Env): Record<string, string> {
  const secrets = collectSecrets(env);
  const out: Record<string, string> = {};
  for (const name of Object.keys(env).sort()) {
    const value = env[name];
    if (value === undefined || OMIT.test(name)) continue;
    if (name === 'VCAP_SERVICES') out[name] = summarizeServices(value);
    else if (isSecretName(name)) out[name] = MASK;
    else out[name] = scrubSecrets(value, secrets).replace(SECRET_OPTION, `$1${MASK}`);
  }
  return out;
}

function summarizeServices(json: string): string {
  try {
    const services = JSON.parse(json) as Record<string, { name?: string; label?: string }[]>;
    const names = Object.entries(services).flatMap(([label, list]) => (Array.isArray(list) ? list.map((s) => `${s.name ?? '?'} (${s.label ?? label})`) : []));
    return `bound services: ${names.join(', ') || 'none'} (credentials omitted)`;
  } catch {
    return '(unreadable, omitted)';
  }
}
