// Native core files. Whether the kernel can write one where we can read it depends on
// /proc/sys/kernel/core_pattern (host-wide, read-only in a container) and the core size
// limit of the crashing process, which we raise for the app (soft up to hard) before it
// starts. This module only decides; the watchdog acts and logs.
import path from 'node:path';

export interface CorePlan {
  capturable: boolean;
  /** Folder the kernel writes cores to, when capturable. */
  folder?: string;
  /** Matches the file names of cores in that folder. */
  namePattern?: RegExp;
  /** One line for the log: where cores go, or why they cannot be captured. */
  explanation: string;
}

/**
 * @param pattern contents of /proc/sys/kernel/core_pattern
 * @param usesPid /proc/sys/kernel/core_uses_pid is 1 (a plain name gets ".<pid>")
 * @param appDir the app's working directory (a relative pattern lands in the crashing process's cwd)
 */
export function planCores(pattern: string | undefined, usesPid: boolean, appDir: string): CorePlan {
  const p = pattern?.trim();
  if (!p) return { capturable: false, explanation: 'cores cannot be captured: /proc/sys/kernel/core_pattern is not readable' };
  if (p.startsWith('|')) {
    return { capturable: false, explanation: `cores cannot be captured in this container: core_pattern pipes them to a host program (${p.split(' ')[0]})` };
  }
  const folder = path.isAbsolute(p) ? path.dirname(p) : path.resolve(appDir, path.dirname(p));
  const base = path.basename(p);
  // %p pid, %e executable, %t time, … each become "some characters"; %% is a literal %.
  let regex = '';
  for (let i = 0; i < base.length; i++) {
    const c = base[i]!;
    if (c === '%' && i + 1 < base.length) {
      const spec = base[++i]!;
      regex += spec === '%' ? '%' : '.+?';
    } else {
      regex += c.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    }
  }
  const addsPid = usesPid && !base.includes('%p');
  const namePattern = new RegExp(`^${regex}${addsPid ? '\\.\\d+' : ''}$`);
  const where = path.isAbsolute(p) ? folder : `the crashing process's working directory (${folder} for the app)`;
  return { capturable: true, folder, namePattern, explanation: `cores will be captured: core_pattern "${p}" writes them to ${where}` };
}

/**
 * argv that raises the soft core limit to the hard limit, then execs the app's command
 * unchanged. bash's `ulimit -S -c hard` does it without a command substitution (a fork on
 * the way to the app's start).
 */
export function withCoreLimit(command: readonly string[]): string[] {
  return ['bash', '-c', 'ulimit -S -c hard 2>/dev/null; exec "$@"', 'postmortem-core-limit', ...command];
}
