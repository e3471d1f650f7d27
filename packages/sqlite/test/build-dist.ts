/**
 * Vitest global setup. The child-process tests run scripts that import the built
 * package (`@mtstore/sqlite` → dist), so make sure dist is not older than src:
 * otherwise they would test yesterday's code.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));

function newest(dir: string): number {
  return Math.max(0, ...readdirSync(dir, { recursive: true, withFileTypes: true }).filter((e) => e.isFile()).map((e) => statSync(`${e.parentPath}/${e.name}`).mtimeMs));
}

export default function setup(): void {
  let built = 0;
  try {
    built = statSync(`${root}/dist/index.js`).mtimeMs;
  } catch {
    // not built yet
  }
  if (built < newest(`${root}/src`)) execFileSync('npm', ['run', 'build'], { cwd: root, stdio: 'inherit' });
}
