// `postmortem config`: the settings as the watchdog would resolve them from this environment,
// with every secret masked (credential fields by name, then any secret value of the
// environment wherever it appears, e.g. inside a postStop command).
import type { Config, Env } from '../config/types.ts';
import { collectSecrets, isSecretName, MASK, maskSecretSpans, scrubSecrets } from '../config/secrets.ts';

export function maskedSettings(config: Config, env: Env): Record<string, unknown> {
  const secrets = collectSecrets(env);
  const mask = (value: unknown, name: string): unknown => {
    if (typeof value === 'string') return isSecretName(name) ? MASK : maskSecretSpans(scrubSecrets(value, secrets), { urlUser: false });
    if (Array.isArray(value)) return value.map((item) => mask(item, name));
    if (typeof value === 'object' && value !== null) {
      return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, mask(item, key)]));
    }
    return value;
  };
  return mask(config, '') as Record<string, unknown>;
}

/** One `dotted.name  value` line per setting. */
export function renderSettings(settings: Record<string, unknown>, warnings: readonly string[]): string {
  const lines: [string, string][] = [];
  const walk = (value: unknown, name: string): void => {
    if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
      for (const [key, item] of Object.entries(value)) walk(item, name ? `${name}.${key}` : key);
    } else {
      lines.push([name, Array.isArray(value) ? value.join(',') || '-' : String(value)]);
    }
  };
  walk(settings, '');
  const width = Math.max(...lines.map(([name]) => name.length));
  return [
    ...lines.map(([name, value]) => `${name.padEnd(width)}  ${value}`),
    ...warnings.map((w) => `warning: ${w}`),
  ].join('\n') + '\n';
}
