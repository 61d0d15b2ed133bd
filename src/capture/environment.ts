// The app's environment as the report shows it: enough to understand the crash (limits,
// JVM options, platform and buildpack settings) and nothing secret. An allow-list, because
// a deny-list misses names nobody thought of (DB_PASS, MY_CREDENTIALS, *_KEY): the values of
// variables known to be safe are kept, with secrets inside them masked (a -Ddb.pass= in
// JAVA_OPTS, a URL's password, a ?password= parameter); every other value is masked unless
// POSTMORTEM_REPORT_ENV names it. VCAP_SERVICES is reduced to the bound services' names.
import { collectSecrets, isSecretName, MASK, maskSecretSpans, scrubSecrets } from '../config/secrets.ts';
import type { Env } from '../config/types.ts';

/** Platform, locale and runtime variables whose values say how the app ran, never who may access what. */
const SAFE_NAMES = new Set([
  'VCAP_APPLICATION', 'MEMORY_LIMIT', 'DISK_LIMIT', 'INSTANCE_INDEX', 'INSTANCE_GUID', 'PORT', 'VCAP_APP_PORT', 'VCAP_APP_HOST',
  'HOME', 'PWD', 'OLDPWD', 'TMPDIR', 'USER', 'SHELL', 'TERM', 'TZ', 'LANG', 'LANGUAGE', 'DEPS_DIR',
  'JRE_HOME', '_JAVA_OPTIONS', 'JBP_LOG_LEVEL',
  'NODE_ENV', 'NODE_OPTIONS', 'MALLOC_ARENA_MAX', 'SPRING_PROFILES_ACTIVE',
]);
/** CF_INSTANCE_*, CF_STACK, JVM flags (JAVA_*, JDK_*), locale (LC_*), PATH-like lists, our own settings. */
const SAFE_PATTERN = /^(CF_[A-Z0-9_]+|JAVA_[A-Z0-9_]+|JDK_[A-Z0-9_]+|LC_[A-Z]+|[A-Z0-9_]*PATH|POSTMORTEM_[A-Z0-9_]+)$/;
/** A command line may carry a token in any form: only kept when POSTMORTEM_REPORT_ENV names it. */
const NOT_SAFE = new Set(['POSTMORTEM_POST_STOP']);
/** Our own hand-over variables are noise in a report. */
const OMIT = /^(POSTMORTEM_APP_NODE_OPTIONS|POSTMORTEM_APP_HAD_NODE_OPTIONS|_)$/;

/**
 * @param alsoKeep names from POSTMORTEM_REPORT_ENV: their values are kept (secrets inside
 *   them still masked by form; a secret-named variable is never kept).
 */
export function redactedEnvironment(env: Env, alsoKeep: readonly string[] = []): Record<string, string> {
  const secrets = collectSecrets(env);
  const listed = new Set(alsoKeep);
  const out: Record<string, string> = {};
  for (const name of Object.keys(env).sort()) {
    const value = env[name];
    if (value === undefined || OMIT.test(name)) continue;
    if (name === 'VCAP_SERVICES') out[name] = summarizeServices(value);
    else if ((listed.has(name) || isSafeName(name)) && !isSecretName(name)) out[name] = scrubSecrets(maskSecretSpans(value), secrets);
    else out[name] = MASK;
  }
  return out;
}

export function isSafeName(name: string): boolean {
  return !NOT_SAFE.has(name) && (SAFE_NAMES.has(name) || SAFE_PATTERN.test(name));
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
