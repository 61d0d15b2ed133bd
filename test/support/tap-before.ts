// tap's global before-script (package.json "tap"."before"): runs once, before any test file.
// Starts the Ceph RGW this run's RGW tests share (test/support/rgw/shared.ts). It always exits
// 0 so the rest of the suite runs; the RGW tests themselves skip, or fail, with the reason.
import { startSharedRgw } from './rgw/shared.ts';

const state = await startSharedRgw();
const line =
  state.status === 'ready'
    ? `Ceph RGW for this run ready at ${state.rgw.endpoint} in ${(state.readyMs / 1000).toFixed(1)} s (${state.rgw.dir})`
    : state.status === 'unavailable'
      ? `no Ceph RGW for this run: ${state.reason}`
      : `Ceph RGW for this run FAILED to start: ${state.reason}`;
process.stderr.write(`# [test setup] ${line.replace(/\n/g, '\n# ')}\n`);
