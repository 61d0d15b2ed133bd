// Reading /proc and hsperfdata: pure parsers on captured text, synthetic perf data files.
import t from 'tap';
import { jvmKind, parseStartTime, parseStatus } from '../../../src/capture/attach/target.ts';
import { attachCapability, parsePerfData } from '../../../src/capture/attach/perfdata.ts';

// as a JDK 17 JVM in a container shows it from the host (abridged)
const STATUS = `Name:\tjava
Umask:\t0022
State:\tS (sleeping)
Tgid:\t23010
Ngid:\t0
Pid:\t23010
PPid:\t22990
Uid:\t2000\t2000\t2000\t2000
Gid:\t2000\t2000\t2000\t2000
NSpid:\t23010\t7
NSpgid:\t23010\t7
SigQ:\t0/63704
SigPnd:\t0000000000000000
ShdPnd:\t0000000000000000
SigBlk:\t0000000000000000
SigIgn:\t0000000000000002
SigCgt:\t0000000101005ccd
`;

t.test('status: name, state, ids, pids per namespace, signal masks', async (t) => {
  const s = parseStatus(STATUS);
  t.equal(s.name, 'java');
  t.equal(s.state, 'S');
  t.same(s.uids, [2000, 2000, 2000, 2000]);
  t.same(s.gids, [2000, 2000, 2000, 2000]);
  t.same(s.nspids, [23010, 7], 'the last one is the pid the JVM sees');
  t.equal(s.sigCgt & 4n, 4n, 'SIGQUIT (3) is bit 2: caught');
  // the same JVM with -Xrs (measured): no SIGQUIT handler
  t.equal(parseStatus(STATUS.replace('0000000101005ccd', '0000000101001cc8')).sigCgt & 4n, 0n);
  t.equal(parseStatus('Name:\tzombie\nState:\tZ (zombie)\n').state, 'Z');
  t.same(parseStatus('Name:\told\n').nspids, [], 'kernels before 4.1 have no NSpid');
});

t.test('stat: the start time survives a command name with spaces and parentheses', async (t) => {
  const fields = Array.from({ length: 50 }, (_, i) => String(i + 3)); // field 3 is the state
  fields[0] = 'S';
  fields[22 - 3] = '987654';
  t.equal(parseStartTime(`123 (weird) (name) ${fields.join(' ')}`), '987654');
  t.equal(parseStartTime('garbage'), undefined);
});

t.test('maps: HotSpot maps libjvm.so, OpenJ9 maps libj9vm too, anything else neither', async (t) => {
  const hotspot = '7f12a0000000-7f12a1000000 r-xp 00000000 08:01 123 /usr/lib/jvm/java-17-openjdk-amd64/lib/server/libjvm.so\n';
  t.equal(jvmKind(hotspot), 'hotspot');
  t.equal(jvmKind(hotspot.replace('libjvm.so\n', 'libjvm.so (deleted)\n')), 'hotspot', 'its JDK upgraded on disk meanwhile');
  t.equal(jvmKind(`${hotspot}7f12b0000000-7f12b1000000 r-xp 00000000 08:01 124 /opt/openj9/lib/default/libj9vm29.so\n`), 'openj9');
  t.equal(jvmKind('55d0c0000000-55d0c0010000 r-xp 00000000 08:01 99 /usr/bin/sleep\n'), 'none');
  t.equal(jvmKind('55d0c0000000-55d0c0010000 r-xp 00000000 08:01 99 /home/vcap/app/libjvm.so.bak\n'), 'none');
});

/** A version-2 hsperfdata file with the given entries, in either byte order. */
function perfFile(entries: [string, string | bigint][], little = true): Buffer {
  const parts: Buffer[] = [];
  for (const [name, value] of entries) {
    const nameBytes = Buffer.from(`${name}\0`, 'latin1');
    const data = typeof value === 'string' ? Buffer.from(`${value}\0`, 'latin1') : Buffer.alloc(8);
    if (typeof value !== 'string') (little ? data.writeBigInt64LE(value) : data.writeBigInt64BE(value));
    const header = Buffer.alloc(20);
    const i32 = (v: number, at: number): number => (little ? header.writeInt32LE(v, at) : header.writeInt32BE(v, at));
    const length = 20 + nameBytes.length + data.length;
    i32(length, 0);
    i32(20, 4);
    i32(typeof value === 'string' ? data.length : 0, 8);
    header[12] = (typeof value === 'string' ? 'B' : 'J').charCodeAt(0);
    i32(20 + nameBytes.length, 16);
    parts.push(header, nameBytes, data);
  }
  const prologue = Buffer.alloc(32);
  prologue.writeUInt32BE(0xcafec0c0, 0);
  prologue[4] = little ? 1 : 0;
  prologue[5] = 2;
  prologue[7] = 1;
  const i32 = (v: number, at: number): number => (little ? prologue.writeInt32LE(v, at) : prologue.writeInt32BE(v, at));
  i32(32, 24);
  i32(entries.length, 28);
  return Buffer.concat([prologue, ...parts]);
}

t.test('hsperfdata: strings and longs in both byte orders; the attach capability', async (t) => {
  for (const little of [true, false]) {
    const entries = parsePerfData(perfFile([['sun.rt.createVmBeginTime', 1234567890123n], ['sun.rt.jvmCapabilities', '1100'], ['java.property.java.vm.name', 'OpenJDK 64-Bit Server VM']], little))!;
    t.equal(entries.get('sun.rt.createVmBeginTime'), 1234567890123n);
    t.equal(entries.get('java.property.java.vm.name'), 'OpenJDK 64-Bit Server VM');
    t.equal(attachCapability(entries), true);
  }
  t.equal(attachCapability(parsePerfData(perfFile([['sun.rt.jvmCapabilities', '0100']]))!), false, '-XX:+DisableAttachMechanism');
  t.equal(attachCapability(parsePerfData(perfFile([['sun.os.hrt.frequency', 1000000000n]]))!), undefined);
  t.equal(parsePerfData(Buffer.from('not perf data at all, not perf data at all')), undefined);
  t.equal(parsePerfData(Buffer.alloc(8)), undefined);
  const truncated = perfFile([['sun.rt.jvmCapabilities', '1000']]).subarray(0, 40);
  t.same([...parsePerfData(truncated)!.keys()], [], 'a truncated file yields what is complete');
});
