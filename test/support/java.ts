// Compiles Java sources with the machine's real javac into a fresh app folder.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { tempDir } from './temp.ts';

const FIXTURES = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../fixtures/java');

/** A fresh app folder holding the compiled classes of sourceDir/<Class>.java. */
export async function compileJava(sourceDir: string, classes: string[]): Promise<string> {
  const dir = await tempDir('pm-javaapp-');
  await execa('javac', ['-d', dir, ...classes.map((c) => path.join(sourceDir, `${c}.java`))]);
  return dir;
}

/** An app folder with the named test fixtures compiled. */
export function javaApp(...classes: string[]): Promise<string> {
  return compileJava(FIXTURES, classes);
}
