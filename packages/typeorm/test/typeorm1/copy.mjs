// The copy of TypeORM 1.x the `typeorm-1` test project runs the adapter on (see
// vitest.config.ts). TypeORM 0.3 stays the package's dev dependency: a workspace can
// hold one `typeorm`, so 1.x is installed beside it, pinned, into the package's
// node_modules/.cache, once per machine (`npm ci` starts from nothing, so CI installs it
// on each run: ~7 s).
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Pinned: a new 1.x release is taken up by changing this line (and README's). */
export const TYPEORM1_VERSION = '1.1.3';

const packageDir = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

/**
 * The install's root: `<dir>/node_modules/typeorm` is the copy. It lies under the
 * package, so Node finds pg, mysql2 and better-sqlite3 (which TypeORM loads by name,
 * optional peers it does not install) in the workspace's node_modules above it.
 */
export const typeorm1Dir = join(packageDir, 'node_modules', '.cache', `typeorm-${TYPEORM1_VERSION}`);

function installedVersion() {
  const file = join(typeorm1Dir, 'node_modules', 'typeorm', 'package.json');
  if (!existsSync(file)) return undefined;
  return JSON.parse(readFileSync(file, 'utf8')).version;
}

/**
 * Makes sure the pinned copy is there, installing it if not. Returns undefined when
 * installed, or why it could not be installed (no network, registry down).
 */
export function ensureTypeorm1() {
  if (installedVersion() === TYPEORM1_VERSION) return undefined;
  // Installed beside the final place and renamed into it: a run stopped half-way never
  // leaves a copy that looks complete.
  const scratch = `${typeorm1Dir}.${process.pid}.tmp`;
  rmSync(scratch, { recursive: true, force: true });
  mkdirSync(scratch, { recursive: true });
  try {
    console.log(`installing typeorm@${TYPEORM1_VERSION} into ${typeorm1Dir} for the TypeORM 1.x tests`);
    const args = ['install', '--no-save', '--no-package-lock', '--no-audit', '--no-fund', '--ignore-scripts', '--prefix', scratch, `typeorm@${TYPEORM1_VERSION}`];
    execFileSync('npm', args, { cwd: scratch, stdio: ['ignore', 'pipe', 'pipe'], timeout: 180_000 });
    rmSync(typeorm1Dir, { recursive: true, force: true });
    renameSync(scratch, typeorm1Dir);
  } catch (error) {
    rmSync(scratch, { recursive: true, force: true });
    const stderr = String(error?.stderr ?? '').trim().split('\n').slice(-3).join(' / ');
    return `npm install typeorm@${TYPEORM1_VERSION} failed: ${error?.message ?? error}${stderr === '' ? '' : ` (${stderr})`}`;
  }
  const version = installedVersion();
  return version === TYPEORM1_VERSION ? undefined : `npm install typeorm@${TYPEORM1_VERSION} left version ${version ?? 'none'} in ${typeorm1Dir}`;
}
