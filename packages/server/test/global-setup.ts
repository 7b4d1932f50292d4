import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** Tests start real server processes from dist/: build once, incrementally, before any suite runs. */
export default function setup(): void {
  const root = fileURLToPath(new URL('../../..', import.meta.url));
  execFileSync(process.execPath, [fileURLToPath(new URL('../../../node_modules/typescript/bin/tsc', import.meta.url)), '-b'], {
    cwd: root,
    stdio: 'inherit',
  });
}
