/** The code blocks of docs/sdk.md, each named by the `<!-- example:<name> -->` line before it. */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const SDK_DOC = fileURLToPath(new URL('../../../../docs/sdk.md', import.meta.url));

export interface DocBlock {
  /** The name of its `<!-- example:<name> -->` marker, undefined for a block without one. */
  name: string | undefined;
  lang: string;
  code: string;
}

/** Every fenced block with a language (an unlabelled fence is a drawing, not code). */
export function docBlocks(doc = readFileSync(SDK_DOC, 'utf8')): DocBlock[] {
  const blocks: DocBlock[] = [];
  const fence = /(?:<!-- example:([\w-]+) -->\s*\n)?```(\w+)\n([\s\S]*?)```/g;
  for (let m = fence.exec(doc); m; m = fence.exec(doc)) {
    blocks.push({ name: m[1], lang: m[2] as string, code: m[3] as string });
  }
  return blocks;
}

/** The code of example `name`; throws when docs/sdk.md has none. */
export function docExample(name: string): string {
  const block = docBlocks().find((b) => b.name === name);
  if (!block) throw new Error(`docs/sdk.md has no example:${name}`);
  return block.code;
}

/** Replaces each `from` of `pairs` in `code`, failing when one is not there (the example changed). */
export function fill(code: string, pairs: Record<string, string>): string {
  let out = code;
  for (const [from, to] of Object.entries(pairs)) {
    if (!out.includes(from)) throw new Error(`the example no longer contains ${from}`);
    out = out.split(from).join(to);
  }
  return out;
}

export interface RunResult {
  code: number | null;
  /** stdout and stderr, interleaved. */
  out: string;
}

/** Runs `node [...nodeArgs] file` to its end (killed after `limitMs`), collecting what it prints. */
export function runNode(file: string, options: { cwd: string; nodeArgs?: string[]; env?: Record<string, string>; limitMs?: number }): Promise<RunResult> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [...(options.nodeArgs ?? []), file], {
      cwd: options.cwd,
      env: { ...process.env, ...options.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), options.limitMs ?? 25_000);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, out });
    });
  });
}
