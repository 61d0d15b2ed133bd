// One rule for tests that need something this machine may lack (a tool, root, a kernel
// setting, a server): outside CI the test is skipped and says why; in CI (CI=true or CI=1)
// the same situation is a failure, because CI must never pass by running nothing.
// scripts/check-tests.mjs refuses plan(0) and skip options anywhere but here.
import type { Test } from 'tap';

type Env = Readonly<Record<string, string | undefined>>;

export function isCi(env: Env = process.env): boolean {
  return ['true', '1'].includes((env['CI'] ?? '').trim().toLowerCase());
}

/** Ends test `t` here: skipped with the reason locally, failed with the reason in CI. */
export function skipOrFailInCi(t: Test, reason: string, env: Env = process.env): void {
  if (isCi(env)) t.fail(`CI cannot skip this test: ${reason}`);
  else t.plan(0, `skipped: ${reason} (with CI=true this is a failure)`);
}

/** Options for t.test: skipped with the reason locally when `missing` names something; never in CI. */
export function unlessMissing(missing: string | undefined, env: Env = process.env): { skip?: string } {
  return missing && !isCi(env) ? { skip: missing } : {};
}
