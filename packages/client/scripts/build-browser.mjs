// Builds dist/browser/websocket-client.js: one ES module with socket.io-client bundled in, for browsers.
// Fails when the bundle would need a Node built-in.
import { build } from 'esbuild';
import { builtinModules } from 'node:module';
import { mkdir, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
export const outfile = fileURLToPath(new URL('../dist/browser/websocket-client.js', import.meta.url));
const builtins = new Set([...builtinModules, ...builtinModules.map((m) => `node:${m}`)]);

/** Refuses any import of a Node built-in instead of letting esbuild leave it external. */
const noNodeBuiltins = {
  name: 'no-node-builtins',
  setup(b) {
    b.onResolve({ filter: /.*/ }, (args) => {
      if (args.path.startsWith('node:') || builtins.has(args.path)) {
        return { errors: [{ text: `Node built-in "${args.path}" imported by ${args.importer} in the browser bundle` }] };
      }
      return undefined;
    });
  },
};

export async function buildBrowser({ minify = true } = {}) {
  const result = await build({
    absWorkingDir: root,
    entryPoints: ['src/browser.ts'],
    outfile,
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: ['es2020'],
    minify,
    sourcemap: true,
    legalComments: 'linked',
    metafile: true,
    logLevel: 'warning',
    plugins: [noNodeBuiltins],
    write: false,
  });
  // Each file is written aside and renamed into place: a build running meanwhile (tests build too) never
  // leaves a reader a half-written bundle.
  await mkdir(dirname(outfile), { recursive: true });
  for (const file of result.outputFiles) {
    const aside = `${file.path}.${process.pid}.tmp`;
    await writeFile(aside, file.contents);
    await rename(aside, file.path);
  }
  const code = result.outputFiles.find((f) => f.path === outfile)?.text ?? '';
  if (/\b(?:from|import|require)\s*\(?\s*["']node:/.test(code)) throw new Error(`${outfile} imports a node: module`);
  return { outfile, bytes: Buffer.byteLength(code), inputs: Object.keys(result.metafile.inputs) };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const { bytes } = await buildBrowser();
  console.log(`built ${outfile} (${Math.round(bytes / 1024)} KiB)`);
}
