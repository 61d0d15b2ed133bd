// tap's global after-script (package.json "tap"."after"): runs once, after the last test file.
// Stops the run's Ceph RGW and removes its folder (see test/support/rgw/shared.ts).
import { stopSharedRgw } from './rgw/shared.ts';

const state = await stopSharedRgw();
if (state?.status === 'ready') process.stderr.write(`# [test setup] Ceph RGW at ${state.rgw.endpoint} stopped, ${state.rgw.dir} removed\n`);
