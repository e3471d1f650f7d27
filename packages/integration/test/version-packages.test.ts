// `npm run version-packages` on a copy of the repository (its package.json files, .changeset and
// scripts in a fresh git repository, node_modules linked): the pending changesets, which say patch
// or minor, give 0.x minor versions, not the 1.0.0 that `changeset version` gives every package
// (changesets 2.x bumps a dependent major when a minor of a 0.x peer leaves its peer range, and the
// fixed group core + conformance follows); a changeset that says major still gives a major.
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, existsSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

function workspaceDirs(): string[] {
  const { workspaces } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { workspaces: string[] };
  return workspaces.flatMap((pattern) =>
    pattern.endsWith('/*') ? readdirSync(join(root, pattern.slice(0, -2))).map((d) => `${pattern.slice(0, -2)}/${d}`) : [pattern],
  ).filter((dir) => existsSync(join(root, dir, 'package.json')));
}

interface Pkg {
  name: string;
  version: string;
  private?: boolean;
  peerDependencies?: Record<string, string>;
  dependencies?: Record<string, string>;
}

/** Copies the repository's package.json files, .changeset and scripts into a new git repository, adds `extra` changesets, runs `npm run version-packages` there and returns the resulting manifests. */
function versionCopy(extra: Record<string, string> = {}): Map<string, Pkg> {
  const dir = mkdtempSync(join(tmpdir(), 'mtstore-version-'));
  dirs.push(dir);
  cpSync(join(root, 'package.json'), join(dir, 'package.json'));
  cpSync(join(root, '.changeset'), join(dir, '.changeset'), { recursive: true });
  cpSync(join(root, 'scripts'), join(dir, 'scripts'), { recursive: true });
  const packageDirs = workspaceDirs();
  for (const pkgDir of packageDirs) {
    mkdirSync(join(dir, pkgDir), { recursive: true });
    cpSync(join(root, pkgDir, 'package.json'), join(dir, pkgDir, 'package.json'));
  }
  for (const [name, text] of Object.entries(extra)) writeFileSync(join(dir, '.changeset', name), text);
  const git = (...args: string[]) => {
    const run = spawnSync('git', ['-c', 'user.email=test@example.invalid', '-c', 'user.name=test', ...args], { cwd: dir, encoding: 'utf8' });
    expect(run.status, run.stderr).toBe(0);
  };
  git('init', '-q');
  git('add', '-A');
  git('commit', '-qm', 'base');
  symlinkSync(join(root, 'node_modules'), join(dir, 'node_modules'));
  const run = spawnSync('npm', ['run', '--silent', 'version-packages'], { cwd: dir, encoding: 'utf8' });
  expect(run.status, run.stderr + run.stdout).toBe(0);
  return new Map(
    packageDirs.map((pkgDir) => {
      const pkg = JSON.parse(readFileSync(join(dir, pkgDir, 'package.json'), 'utf8')) as Pkg;
      return [pkg.name, pkg];
    }),
  );
}

const publicPackages = (pkgs: Map<string, Pkg>) => [...pkgs.values()].filter((pkg) => !pkg.private);

describe('npm run version-packages', () => {
  it('gives 0.x versions for patch/minor changesets: core and conformance 0.2.0, dependents minor with their core peer range moved to the new core', { timeout: 120_000 }, () => {
    const pkgs = versionCopy({
      'zz-test-core-minor.md': "---\n'@mtstore/core': minor\n---\n\nA minor of core, as the pending changesets have.\n",
    });
    for (const pkg of publicPackages(pkgs)) expect(pkg.version, pkg.name).toMatch(/^0\./);
    const core = pkgs.get('@mtstore/core')!;
    expect(core.version).toBe('0.2.0');
    expect(pkgs.get('@mtstore/conformance')!.version).toBe(core.version);
    for (const pkg of publicPackages(pkgs)) {
      const peer = pkg.peerDependencies?.['@mtstore/core'];
      if (peer === undefined) continue;
      expect(peer, pkg.name).toBe(`^${core.version}`);
      expect(pkg.version, pkg.name).toBe('0.2.0');
    }
  });

  it('still gives a major where a changeset says major (core, so conformance too through the fixed group)', { timeout: 120_000 }, () => {
    const pkgs = versionCopy({
      'zz-test-core-major.md': "---\n'@mtstore/core': major\n---\n\nA breaking change, said so.\n",
      'zz-test-redis-major.md': "---\n'@mtstore/redis': major\n---\n\nA breaking change of redis, said so.\n",
    });
    expect(pkgs.get('@mtstore/core')!.version).toBe('1.0.0');
    expect(pkgs.get('@mtstore/conformance')!.version).toBe('1.0.0');
    expect(pkgs.get('@mtstore/redis')!.version).toBe('1.0.0');
    const memory = pkgs.get('@mtstore/memory')!;
    expect(memory.version).toBe('0.2.0');
    expect(memory.peerDependencies?.['@mtstore/core']).toBe('^1.0.0');
  });
});
