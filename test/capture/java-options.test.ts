import t from 'tap';
import { mkdir, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { javaToolOptions, userHeapDumpGzipLevel, userHeapDumpPaths } from '../../src/capture/java-options.ts';
import { findJavaMajors, javaMajor } from '../../src/capture/java-version.ts';
import { tempDir } from '../support/temp.ts';

t.test('appends to the user\'s JAVA_TOOL_OPTIONS, never replaces', async (t) => {
  t.equal(javaToolOptions({ existing: '-Dfoo=1', heapDumpDir: '/d', jvmGzipLevel: 0 }), '-Dfoo=1 -XX:+HeapDumpOnOutOfMemoryError -XX:HeapDumpPath=/d -XX:ErrorFile=/d/hs_err_pid%p.log');
  t.equal(javaToolOptions({ existing: undefined, heapDumpDir: '/d', jvmGzipLevel: 1 }), '-XX:+HeapDumpOnOutOfMemoryError -XX:HeapDumpPath=/d -XX:ErrorFile=/d/hs_err_pid%p.log -XX:HeapDumpGzipLevel=1');
  t.match(javaToolOptions({ existing: undefined, heapDumpDir: '/d', jvmGzipLevel: 0, nativeMemoryTracking: true }), / -XX:NativeMemoryTracking=summary$/, 'POSTMORTEM_NMT=summary');
  t.throws(() => javaToolOptions({ existing: '', heapDumpDir: '/a b', jvmGzipLevel: 0 }), /whitespace/);
  t.same(userHeapDumpPaths('-Xmx1g -XX:HeapDumpPath=/x/y', undefined, "-XX:HeapDumpPath='/q'"), ['/x/y', '/q']);
  t.equal(userHeapDumpGzipLevel('-XX:HeapDumpGzipLevel=6', 'java -XX:HeapDumpGzipLevel=0 -jar a.jar'), 0, 'the last one wins');
  t.equal(userHeapDumpGzipLevel('-Xmx1g', undefined), undefined);
});

t.test('JDK majors from release files', async (t) => {
  t.equal(javaMajor('JAVA_VERSION="1.8.0_402"\n'), 8);
  t.equal(javaMajor('IMPLEMENTOR="x"\nJAVA_VERSION="17.0.15"\n'), 17);
  t.equal(javaMajor('JAVA_VERSION="21"'), 21);
  t.equal(javaMajor('nothing'), undefined);
  // A droplet laid out like the Ruby java-buildpack's, plus a java on PATH.
  const app = await tempDir('pm-jv-');
  await mkdir(path.join(app, '.java-buildpack/open_jdk_jre/bin'), { recursive: true });
  await writeFile(path.join(app, '.java-buildpack/open_jdk_jre/release'), 'JAVA_VERSION="11.0.22"\n');
  const jdk = path.join(app, 'jdk21');
  await mkdir(path.join(jdk, 'bin'), { recursive: true });
  await writeFile(path.join(jdk, 'release'), 'JAVA_VERSION="21.0.2"\n');
  await writeFile(path.join(jdk, 'bin/java'), '');
  const onPath = path.join(app, 'path');
  await mkdir(onPath);
  await symlink(path.join(jdk, 'bin/java'), path.join(onPath, 'java'));
  t.same((await findJavaMajors({ PATH: onPath }, app)).sort(), [11, 21]);
});
