// Bundles src/entry/* into self-contained ES modules in lib/ (committed: the buildpack runs
// from a git URL without npm). Deterministic: CI rebuilds and fails on any difference.
import { build } from 'esbuild';
import { rm } from 'node:fs/promises';
import { writeIncludeFiles } from './scripts/include-files.mjs';

const entries = ['supply', 'watchdog', 'cli', 'hprof-worker'];
await rm('lib', { recursive: true, force: true });
await build({
  entryPoints: Object.fromEntries(entries.map((e) => [e, `src/entry/${e}.ts`])),
  outdir: 'lib',
  outExtension: { '.js': '.mjs' },
  chunkNames: 'chunks/[name]-[hash]',
  bundle: true,
  splitting: true, // the AWS SDK is loaded only when there is something to upload
  format: 'esm',
  platform: 'node',
  target: 'node20',
  minify: true,
  keepNames: true,
  legalComments: 'eof',
  logLevel: 'warning',
  // Some bundled CommonJS dependencies call require() for Node built-ins.
  banner: { js: "import{createRequire as __pmCreateRequire}from'node:module';const require=__pmCreateRequire(import.meta.url);" },
});
// The packager copies include_files by literal name: list the bundles just written.
await writeIncludeFiles();
