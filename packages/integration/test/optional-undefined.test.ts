/**
 * Every optional property of the published types accepts an explicit `undefined`.
 *
 * `tsc --init` (TypeScript 5.9) turns on exactOptionalPropertyTypes, under which `foo?: T`
 * refuses `undefined`: `new PostgresStorage({ connectionString: process.env.DATABASE_URL })`
 * failed with TS2379, and so did core against itself, `new SessionSubject(storage, { bus })`
 * with the `bus?` openSessionStorage returns. The runtime treats an `undefined` option as
 * left out everywhere (null-options.test.ts, unknown-options.test.ts), so the types say
 * `foo?: T | undefined`.
 *
 * Each package's built declarations (the `types` of every entry point its package.json
 * exports) are loaded in one program under exactOptionalPropertyTypes, and every type
 * reachable from an export (interfaces, type literals, classes, function parameters and
 * results, type arguments) is walked. An optional property of one of our declaration files
 * whose DECLARED type (its type node: the checker's getTypeOfSymbol adds no undefined under
 * this option, it adds the "missing" type) has no `undefined`, `any` or `unknown` member is
 * an offender, named `package: Type.property`. ALLOWED lists the ones that must not take
 * `undefined`, each with its reason.
 *
 * Not seen: a property made optional by a mapped type (`Partial<T>`) whose declaration is
 * required; the surface has no such option (lease owners are a type literal).
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { CONSUMER_OPTIONS } from './consumer-options.js';

const root = fileURLToPath(new URL('../../..', import.meta.url));

/** The published packages, by folder (the premise test checks none is missing). */
const PACKAGE_DIRS = [
  'packages/core',
  'packages/memory',
  'packages/sqlite',
  'packages/postgres',
  'packages/mongo',
  'packages/redis',
  'packages/typeorm',
  'packages/mtcute',
  'packages/gramjs',
  'packages/convert',
  'packages/cli',
  'adapters-conformance',
];

/**
 * Optional properties that must not take an explicit `undefined`, each with its reason,
 * `package: Type.property` as the offenders are listed. None today: every optional
 * property of the surface is read as left out when it is undefined (options by
 * withKnownOptions / ?? / === undefined, model types by core's validation).
 */
const ALLOWED: Record<string, string> = {};

/** A consumer's new project (tsc --init's options, exactOptionalPropertyTypes among them). */
const OPTIONS: ts.CompilerOptions = CONSUMER_OPTIONS;

interface Package {
  name: string;
  /** Absolute folder of its declarations (dist), with a trailing separator: what it bundles from node_modules is not its own. */
  dir: string;
  /** Absolute paths of the entry points' declarations. */
  entries: string[];
}

/** The `types` of each entry point of `exports` (the ESM condition where there are two). */
function entryTypes(exportsField: unknown): string[] {
  const found: string[] = [];
  const visit = (value: unknown): void => {
    if (typeof value !== 'object' || value === null) return;
    const record = value as Record<string, unknown>;
    if (typeof record.types === 'string') {
      found.push(record.types);
      return;
    }
    // `require` declares the same types as `import` (.d.cts), one copy is enough.
    if (record.import !== undefined) return visit(record.import);
    for (const [key, inner] of Object.entries(record)) if (key !== 'require') visit(inner);
  };
  visit(exportsField);
  return found;
}

function readPackage(dir: string): Package {
  const abs = join(root, dir);
  const manifest = JSON.parse(readFileSync(join(abs, 'package.json'), 'utf8')) as { name: string; exports: unknown };
  return { name: manifest.name, dir: join(abs, 'dist') + sep, entries: entryTypes(manifest.exports).map((path) => join(abs, path)) };
}

function acceptsUndefined(type: ts.Type): boolean {
  const accepting = ts.TypeFlags.Undefined | ts.TypeFlags.Any | ts.TypeFlags.Unknown | ts.TypeFlags.Void;
  if (type.flags & accepting) return true;
  if (type.isUnion()) return type.types.some(acceptsUndefined);
  // A type parameter takes undefined when its constraint does (`T extends string | undefined`).
  if (type.flags & ts.TypeFlags.TypeParameter) {
    const constraint = type.getConstraint();
    return constraint !== undefined && acceptsUndefined(constraint);
  }
  return false;
}

/** `Type.property` for a property declaration: the names of the nodes around it, outermost first. */
function qualifiedName(node: ts.Node): string {
  const parts: string[] = [];
  for (let at: ts.Node | undefined = node; at !== undefined && !ts.isSourceFile(at); at = at.parent) {
    const name = (at as { name?: ts.Node }).name;
    if (name !== undefined && (ts.isIdentifier(name) || ts.isStringLiteral(name) || ts.isPrivateIdentifier(name))) parts.unshift(name.text);
    else if (ts.isConstructorDeclaration(at)) parts.unshift('constructor');
  }
  return parts.join('.');
}

/**
 * The optional properties declared in `packages`' files, reachable from their entry points,
 * whose declared type refuses `undefined`: `package: Type.property`, sorted. `extra` are
 * virtual files (path → text) for the self-check.
 */
function offenders(packages: Package[], extra = new Map<string, string>()): string[] {
  const host = ts.createCompilerHost(OPTIONS);
  const { fileExists, readFile, getSourceFile } = host;
  host.fileExists = (name) => extra.has(name) || fileExists.call(host, name);
  host.readFile = (name) => extra.get(name) ?? readFile.call(host, name);
  host.getSourceFile = (name, language, ...rest) => {
    const text = extra.get(name);
    return text === undefined ? getSourceFile.call(host, name, language, ...rest) : ts.createSourceFile(name, text, language);
  };
  const rootNames = packages.flatMap((p) => p.entries);
  const program = ts.createProgram({ rootNames, options: OPTIONS, host });
  const checker = program.getTypeChecker();
  const packageOf = (node: ts.Node): Package | undefined => {
    const file = node.getSourceFile().fileName;
    return packages.find((p) => file.startsWith(p.dir.split(sep).join('/')) || file.startsWith(p.dir));
  };
  const found = new Set<string>();
  const seen = new Set<ts.Type>();

  const checkProperty = (property: ts.Symbol): void => {
    if (!(property.flags & ts.SymbolFlags.Optional)) return;
    for (const declaration of property.declarations ?? []) {
      const owner = packageOf(declaration);
      if (owner === undefined) continue;
      let declared: ts.Type;
      if (ts.isPropertySignature(declaration) || ts.isPropertyDeclaration(declaration)) {
        // `name?;` is `any`.
        if (declaration.type === undefined) continue;
        declared = checker.getTypeFromTypeNode(declaration.type);
      } else if (ts.isMethodSignature(declaration) || ts.isMethodDeclaration(declaration)) {
        // `name?(): T` is a function, never undefined: `name?: (() => T) | undefined` takes it.
        if (declaration.questionToken !== undefined) found.add(`${owner.name}: ${qualifiedName(declaration)}`);
        continue;
      } else continue;
      // Optional through a mapped type (Partial<T>) with a required declaration: the
      // mapped type is the place, not this property.
      if (declaration.questionToken === undefined) continue;
      if (!acceptsUndefined(declared)) found.add(`${owner.name}: ${qualifiedName(declaration)}`);
    }
  };

  // A work list, not recursion: the surface is deep enough to overflow the stack.
  const queue: ts.Type[] = [];
  const walked = new Set<ts.Symbol>();
  const walkedAnonymous = new Set<ts.Symbol>();
  const visitType = (type: ts.Type): void => {
    if (seen.has(type)) return;
    seen.add(type);
    queue.push(type);
  };
  const visitSignature = (signature: ts.Signature): void => {
    for (const parameter of signature.getParameters()) visitType(checker.getTypeOfSymbol(parameter));
    visitType(checker.getReturnTypeOfSignature(signature));
  };

  const walk = (type: ts.Type): void => {
    for (const argument of type.aliasTypeArguments ?? []) visitType(argument);
    if (type.isUnionOrIntersection()) {
      for (const member of type.types) visitType(member);
      return;
    }
    if (!(type.flags & ts.TypeFlags.Object)) return;
    const object = type as ts.ObjectType;
    if (object.objectFlags & ts.ObjectFlags.Reference) for (const argument of checker.getTypeArguments(type as ts.TypeReference)) visitType(argument);
    // Only our own types are walked: Promise, Map, pg's PoolConfig, typeorm's DataSource are not ours.
    const symbol = type.getSymbol();
    if (!(symbol?.declarations ?? []).some((d) => packageOf(d) !== undefined)) return;
    // Members are walked once per declaration, through whichever instantiation comes first:
    // the checks read declarations, and a generic that returns itself with a new type
    // argument (Foo<T> -> Foo<Bar<T>>) would otherwise never end.
    // A class's symbol is both its instance type's and its constructor's (anonymous): one walk each.
    const side = object.objectFlags & ts.ObjectFlags.Anonymous ? walkedAnonymous : walked;
    if (side.has(symbol!)) return;
    side.add(symbol!);
    for (const property of checker.getPropertiesOfType(type)) {
      // Private members are not part of the surface.
      const declaration = property.valueDeclaration;
      if (declaration !== undefined && ts.getCombinedModifierFlags(declaration) & ts.ModifierFlags.Private) continue;
      checkProperty(property);
      visitType(checker.getTypeOfSymbol(property));
    }
    for (const signature of type.getCallSignatures()) visitSignature(signature);
    for (const signature of type.getConstructSignatures()) visitSignature(signature);
    const index = checker.getIndexInfosOfType(type);
    for (const info of index) visitType(info.type);
  };

  for (const entry of rootNames) {
    const file = program.getSourceFile(entry);
    if (file === undefined) throw new Error(`${relative(root, entry)}: not found (build the package first)`);
    const module = checker.getSymbolAtLocation(file);
    if (module === undefined) throw new Error(`${relative(root, entry)}: not a module`);
    for (const exported of checker.getExportsOfModule(module)) {
      const symbol = exported.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(exported) : exported;
      if (symbol.flags & (ts.SymbolFlags.Interface | ts.SymbolFlags.TypeAlias | ts.SymbolFlags.Class | ts.SymbolFlags.Enum)) visitType(checker.getDeclaredTypeOfSymbol(symbol));
      if (symbol.flags & ts.SymbolFlags.Value) visitType(checker.getTypeOfSymbol(symbol));
    }
  }
  for (let type = queue.shift(); type !== undefined; type = queue.shift()) walk(type);
  const problems = ts.getPreEmitDiagnostics(program).filter((d) => d.category === ts.DiagnosticCategory.Error);
  if (problems.length > 0) throw new Error(problems.map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n')).join('\n'));
  return [...found].sort();
}

const packages = PACKAGE_DIRS.map(readPackage);

describe('optional properties of the public types take undefined (exactOptionalPropertyTypes)', () => {
  it('every package has its entry points, and every published package is listed (the premise)', () => {
    const published = readdirSync(join(root, 'packages'))
      .map((dir) => `packages/${dir}`)
      .filter((dir) => existsSync(join(root, dir, 'package.json')))
      .filter((dir) => (JSON.parse(readFileSync(join(root, dir, 'package.json'), 'utf8')) as { private?: boolean }).private !== true);
    expect(PACKAGE_DIRS.filter((dir) => dir.startsWith('packages/')).sort()).toEqual(published.sort());
    for (const p of packages) expect(p.entries.length, p.name).toBeGreaterThan(0);
    expect(packages.find((p) => p.name === '@mtstore/conformance')?.entries.map((e) => relative(root, e))).toEqual(['adapters-conformance/dist/index.d.ts', 'adapters-conformance/dist/vitest.d.ts']);
  });

  it('no optional property refuses undefined but those allowed, each with its reason', () => {
    const found = offenders(packages);
    expect(found.filter((name) => !(name in ALLOWED))).toEqual([]);
    // An allowed entry that is no longer an offender is stale: remove it.
    expect(Object.keys(ALLOWED).filter((name) => !found.includes(name))).toEqual([]);
    for (const [name, reason] of Object.entries(ALLOWED)) expect(reason.length, name).toBeGreaterThan(20);
  });

  it('finds the offenders of a small package (self-check)', () => {
    const dir = join(root, 'packages/integration/test/.optional-undefined/');
    const entry = join(dir, 'index.d.ts');
    // As tsup writes them: declarations, then one export list (so Hidden is not exported).
    const text = [
      'interface Hidden { never?: string }',
      'interface Options { plain?: string; ok?: string | undefined; loose?: unknown; nested?: { deep?: number; fine?: number | undefined } | undefined; call?(): void; fn?: (() => void) | undefined; required: string }',
      'declare function open(options?: { retries?: number }): Promise<{ bus?: Options }>;',
      'declare class Store { constructor(options: Options, more?: { inline?: string }); private secret?: string; read(): { at?: Date }[] }',
      'type Loose<T extends string | undefined> = { value?: T; strict?: T & string };',
      'type Picked = Partial<{ whole: string }>;',
      'export { type Options, open, Store, type Loose, type Picked };',
    ].join('\n');
    const fake: Package = { name: 'fake', dir, entries: [entry] };
    expect(offenders([fake], new Map([[entry, text]]))).toEqual([
      'fake: Loose.strict',
      'fake: Options.call',
      'fake: Options.nested.deep',
      'fake: Options.plain',
      'fake: Store.constructor.more.inline',
      'fake: Store.read.at',
      'fake: open.bus',
      'fake: open.options.retries',
    ]);
  });
});
