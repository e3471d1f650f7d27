/**
 * Every public package's entry points resolve to their types under each TypeScript
 * module resolution an application may use: node10 (the default of `module: commonjs`,
 * still common), node16 from an ES module and from a CommonJS one, and bundler. Under
 * node10 TypeScript ignores `exports`, so a subpath (`@mtstore/conformance/vitest`) has
 * no types unless `typesVersions` maps it; an app on node10 would get "Cannot find
 * module" for a path that runs fine under Node.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { afterAll, describe, expect, it } from 'vitest';

const packagesDir = fileURLToPath(new URL('../..', import.meta.url));
const root = join(packagesDir, '..');

/** Each public package's import specifiers: its name and each subpath of `exports` but package.json. */
function specifiers(): string[] {
  const dirs = [...readdirSync(packagesDir).map((d) => join(packagesDir, d)), join(root, 'adapters-conformance')];
  const found: string[] = [];
  for (const dir of dirs) {
    let pkg: { name: string; private?: boolean; exports?: Record<string, unknown> };
    try {
      pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
    } catch {
      continue;
    }
    if (pkg.private === true || pkg.exports === undefined) continue;
    for (const path of Object.keys(pkg.exports)) {
      if (path === './package.json') continue;
      found.push(path === '.' ? pkg.name : `${pkg.name}/${path.slice(2)}`);
    }
  }
  return found;
}

// Inside this package, so node_modules lookup finds the workspace's packages.
const scratch = mkdtempSync(join(fileURLToPath(new URL('.', import.meta.url)), '.types-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const BASE: ts.CompilerOptions = { strict: true, noEmit: true, skipLibCheck: true, types: [], target: ts.ScriptTarget.ES2022, lib: ['lib.es2022.d.ts'] };

/** Parsed files shared by the programs below: each .d.ts is parsed once, not once per resolution. */
const parsed = new Map<string, ts.SourceFile | undefined>();
const host = ts.createCompilerHost(BASE);
const getSourceFile = host.getSourceFile.bind(host);
host.getSourceFile = (fileName, language, ...rest) => {
  const key = `${fileName}|${typeof language === 'object' ? language.impliedNodeFormat : ''}`;
  if (!parsed.has(key)) parsed.set(key, getSourceFile(fileName, language, ...rest));
  return parsed.get(key);
};

/** Diagnostics of files each importing every specifier (a type per import: the import must have types). */
function check(files: string[], options: ts.CompilerOptions): string[] {
  const imports = specifiers().map((s, i) => `import * as m${i} from '${s}';\nexport type T${i} = typeof m${i};`);
  const paths = files.map((file) => join(scratch, file));
  for (const path of paths) writeFileSync(path, `${imports.join('\n')}\n`);
  const program = ts.createProgram({ rootNames: paths, options: { ...BASE, ...options }, host });
  return ts.getPreEmitDiagnostics(program).map((d) => `${d.file?.fileName ?? ''}: ${ts.flattenDiagnosticMessageText(d.messageText, '\n')}`);
}

describe('types of every entry point', () => {
  it('lists the public entry points (the premise)', () => {
    expect(specifiers()).toEqual(expect.arrayContaining(['@mtstore/core', '@mtstore/conformance', '@mtstore/conformance/vitest', '@mtstore/sqlite']));
  });

  it('resolve under node10 (module commonjs)', () => {
    expect(check(['node10.ts'], { module: ts.ModuleKind.CommonJS, moduleResolution: ts.ModuleResolutionKind.Node10 })).toEqual([]);
  });

  it('resolve under node16 from an ES module and from a CommonJS module', () => {
    const options = { module: ts.ModuleKind.Node16, moduleResolution: ts.ModuleResolutionKind.Node16 };
    expect(check(['esm.mts', 'cjs.cts'], options)).toEqual([]);
  });

  it('resolve under bundler', () => {
    expect(check(['bundler.ts'], { module: ts.ModuleKind.ESNext, moduleResolution: ts.ModuleResolutionKind.Bundler })).toEqual([]);
  });
});
