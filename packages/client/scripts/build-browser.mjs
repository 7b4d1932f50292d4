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
  const bundle = result.outputFiles.find((f) => f.path === outfile);
  if (!bundle) throw new Error(`esbuild produced no ${outfile}`);
  const code = bundle.text;
  if (/\b(?:from|import|require)\s*\(?\s*["']node:/.test(code)) throw new Error(`${outfile} imports a node: module`);
  // Each file is replaced whole (written aside, then renamed), so a build running beside another, or beside
  // a reader of the bundle, never leaves or shows a half-written file.
  await mkdir(dirname(outfile), { recursive: true });
  for (const f of result.outputFiles) {
    const aside = `${f.path}.${process.pid}.tmp`;
    await writeFile(aside, f.contents);
    await rename(aside, f.path);
  }
  return { outfile, bytes: Buffer.byteLength(code), inputs: Object.keys(result.metafile.inputs) };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const { bytes } = await buildBrowser();
  // A progress note, so stderr: stdout of `npm run -s token` must carry the token alone.
  process.stderr.write(`built ${outfile} (${Math.round(bytes / 1024)} KiB)\n`);
}
