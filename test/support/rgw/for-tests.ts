// How an RGW test file gets its server: the run's shared Ceph RGW, or a clear verdict when
// there is none. Not installed: the whole file is skipped and says how to install it, except
// in CI (CI=true), where a missing RGW is a failure: CI must never silently skip these tests.
import type { Test } from 'tap';
import { RgwUnavailableError } from '../rgw.ts';
import { startS3Server, type S3TestServer } from '../s3-server.ts';
import { skipOrFailInCi } from '../requirements.ts';


/**
 * The RGW for this test file, or undefined after the file was marked skipped (plan 0) or
 * failed; then the file must not define tests. Call once, at the top level.
 */
export async function rgwForThisFile(t: Test, env: Readonly<Record<string, string | undefined>> = process.env): Promise<S3TestServer | undefined> {
  let server: S3TestServer;
  try {
    server = await startS3Server({ kind: 'rgw', env });
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    if (error instanceof RgwUnavailableError) {
      skipOrFailInCi(t, `no Ceph RGW for the RGW tests: ${reason}`, env);
    } else {
      t.fail(`no Ceph RGW: ${reason}`);
    }
    return undefined;
  }
  t.teardown(() => server.stop());
  return server;
}
