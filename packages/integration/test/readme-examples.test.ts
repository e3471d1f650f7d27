/**
 * Every TypeScript example in the documentation compiles against the packages' built
 * declarations, as a newcomer would paste it: README.md, packages/<name>/README.md,
 * adapters-conformance/README.md and docs/contract.md. A renamed option or export, a
 * missing import or a changed signature otherwise leaves a README silently wrong.
 *
 * Each ```ts / ```typescript (and ```js, checked as JavaScript) block is its own ES
 * module, all of them in ONE TypeScript program (a few seconds, not one per block),
 * under the options `tsc --init` writes (TypeScript 5.9: strict, nodenext,
 * noUncheckedIndexedAccess, exactOptionalPropertyTypes, verbatimModuleSyntax), with
 * @types/node and no DOM. Imports must resolve: an example imports what it uses.
 *
 * The convention for blocks that are not whole programs, an HTML comment (not rendered)
 * on the line right before the fence:
 *
 *   <!-- declare: storage: import('@mtstore/core').Storage, authKeyId: bigint, MyStorage -->
 *     The block continues an earlier one or uses the reader's own things: these names
 *     are declared for it (`declare const name: Type`; a name without a type is `any`,
 *     for what the reader writes, such as their own adapter class). Commas inside a
 *     type's <>, (), [] or {} do not split. A quoted entry, `'../src/index.js'` or
 *     `'my-mtstore-dynamodb'`, is a module of the reader's own that the block imports:
 *     what the block imports from it is `any`.
 *   <!-- skip: <reason> -->
 *     Not TypeScript (an interface listing of signatures, pseudo-code): its errors are
 *     not reported. The reason is required, and a skipped block that compiles is an
 *     error (the marker is no longer needed).
 *
 * Anything else must compile as is. A marker that is not right before a checked block
 * is an error too (an example moved away from its marker). Diagnostics name the Markdown
 * file, line and column: `packages/sqlite/README.md:32:29 TS2353 ...`.
 */
import { readdirSync, readFileSync, existsSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { CONSUMER_OPTIONS } from './consumer-options.js';

const packagesDir = fileURLToPath(new URL('../..', import.meta.url));
const root = join(packagesDir, '..');

/** The documents whose examples are checked, relative to the repository root. */
function documents(): string[] {
  const packageReadmes = readdirSync(packagesDir)
    .map((dir) => `packages/${dir}/README.md`)
    .filter((path) => existsSync(join(root, path)));
  return ['README.md', ...packageReadmes, 'adapters-conformance/README.md', 'docs/contract.md'];
}

const CHECKED = new Map<string, 'ts' | 'js'>([
  ['ts', 'ts'],
  ['typescript', 'ts'],
  ['js', 'js'],
  ['javascript', 'js'],
]);

type Marker = { kind: 'declare'; line: number; names: { name: string; type: string | undefined }[]; modules: string[] } | { kind: 'skip'; line: number; reason: string };

interface Block {
  /** Document path, relative to the repository root. */
  doc: string;
  language: 'ts' | 'js';
  /** 1-based line in the document of the block's first line of code. */
  firstLine: number;
  code: string;
  marker: Marker | undefined;
}

const MARKER = /^\s*<!--\s*(declare|skip)\b\s*:?\s*(.*?)\s*-->\s*$/;
const ANY_MARKER = /^\s*<!--\s*(declare|skip)\b/;

/** Splits at commas outside <>, (), [] and {}. */
function splitTopLevel(text: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '<' || c === '(' || c === '[' || c === '{') depth++;
    else if ((c === '>' && text[i - 1] !== '=') || c === ')' || c === ']' || c === '}') depth--;
    else if (c === ',' && depth === 0) {
      parts.push(text.slice(start, i));
      start = i + 1;
    }
  }
  parts.push(text.slice(start));
  return parts.map((part) => part.trim());
}

function parseMarker(doc: string, line: number, text: string, problems: string[]): Marker | undefined {
  const match = MARKER.exec(text);
  if (match === null) {
    problems.push(`${doc}:${line} malformed marker (expected <!-- declare: a, b: Type --> or <!-- skip: reason -->): ${text.trim()}`);
    return undefined;
  }
  const [, kind, body = ''] = match;
  if (kind === 'skip') {
    if (body.length < 10) problems.push(`${doc}:${line} a skip marker needs its reason (why the block is not TypeScript): ${text.trim()}`);
    return { kind: 'skip', line, reason: body };
  }
  const names: { name: string; type: string | undefined }[] = [];
  const modules: string[] = [];
  for (const part of splitTopLevel(body)) {
    const quoted = /^(['"])([^'"]+)\1$/.exec(part);
    if (quoted !== null) {
      modules.push(quoted[2]!);
      continue;
    }
    const declared = /^([A-Za-z_$][\w$]*)\s*(?::\s*(.+))?$/s.exec(part);
    if (declared === null) {
      problems.push(`${doc}:${line} declare marker: '${part}' is not 'name' or 'name: Type'`);
      continue;
    }
    names.push({ name: declared[1]!, type: declared[2] });
  }
  if (names.length + modules.length === 0) problems.push(`${doc}:${line} declare marker names nothing`);
  return { kind: 'declare', line, names, modules };
}

/** The checked blocks of one Markdown text, and what is wrong with its markers. */
function extract(doc: string, text: string): { blocks: Block[]; problems: string[] } {
  const lines = text.split('\n');
  const blocks: Block[] = [];
  const problems: string[] = [];
  const usedMarkers = new Set<number>();
  for (let i = 0; i < lines.length; i++) {
    const open = /^ {0,3}(`{3,}|~{3,})\s*([^\s`]*)/.exec(lines[i]!);
    if (open === null) continue;
    const fence = open[1]!;
    let end = i + 1;
    while (end < lines.length && !new RegExp(`^ {0,3}${fence[0]}{${fence.length},}\\s*$`).test(lines[end]!)) end++;
    const language = CHECKED.get(open[2]!.toLowerCase());
    if (language !== undefined) {
      let before = i - 1;
      while (before >= 0 && lines[before]!.trim() === '') before--;
      let marker: Marker | undefined;
      if (before >= 0 && ANY_MARKER.test(lines[before]!)) {
        marker = parseMarker(doc, before + 1, lines[before]!, problems);
        usedMarkers.add(before);
      }
      blocks.push({ doc, language, firstLine: i + 2, code: lines.slice(i + 1, end).join('\n'), marker });
    }
    i = end;
  }
  lines.forEach((line, index) => {
    if (ANY_MARKER.test(line) && !usedMarkers.has(index)) problems.push(`${doc}:${index + 1} marker not right before a ts/js block: ${line.trim()}`);
  });
  return { blocks, problems };
}

/** A new project's options (consumer-options.ts), and the README's ```js blocks checked too. */
const OPTIONS: ts.CompilerOptions = { ...CONSUMER_OPTIONS, allowJs: true, checkJs: true };

/**
 * The modules are virtual files in a folder that does not exist, inside this package
 * (so `node_modules` lookup finds the workspace's packages, and its package.json's
 * `"type": "module"` makes them ES modules): nothing written, nothing to clean up.
 */
const virtualDir = join(packagesDir, 'integration/test/.readme-examples');

/** A diagnostic's place and text, in the Markdown's terms. */
function describeDiagnostic(d: ts.Diagnostic, byFile: Map<string, Block>): { doc: string | undefined; text: string } {
  const message = ts.flattenDiagnosticMessageText(d.messageText, '\n');
  if (d.file === undefined || d.start === undefined) return { doc: undefined, text: `TS${d.code} ${message}` };
  const block = byFile.get(d.file.fileName);
  const { line, character } = d.file.getLineAndCharacterOfPosition(d.start);
  if (block === undefined) return { doc: undefined, text: `${relative(root, d.file.fileName)}:${line + 1}:${character + 1} TS${d.code} ${message}` };
  // Line 0 of the module is the one line of declarations from the marker.
  const at = line === 0 ? `${block.marker!.line}` : `${block.firstLine + line - 1}:${character + 1}`;
  return { doc: block.doc, text: `${block.doc}:${at} TS${d.code} ${message}` };
}

/**
 * Type-checks the blocks of every document in one program. `docs` maps a document's
 * name to its Markdown text; the result maps it to its marker problems and diagnostics.
 */
function checkDocuments(docs: Map<string, string>): { results: Map<string, string[]>; blocks: Block[] } {
  const results = new Map<string, string[]>([...docs.keys()].map((doc) => [doc, []]));
  const files = new Map<string, string>();
  const byFile = new Map<string, Block>();
  const all: Block[] = [];
  const ambient = new Set<string>();
  for (const [doc, text] of docs) {
    const { blocks, problems } = extract(doc, text);
    results.get(doc)!.push(...problems);
    all.push(...blocks);
    for (const block of blocks) {
      const declarations = block.marker?.kind === 'declare' ? block.marker.names.map(({ name, type }) => `declare const ${name}: ${type ?? 'any'};`).join(' ') : '';
      // A folder per block: a relative import of the reader's own module resolves inside it.
      const name = join(virtualDir, `${doc.replaceAll('/', '_')}_L${block.firstLine}`, `example.${block.language}`);
      files.set(name, `${declarations}\n${block.code}\n`);
      byFile.set(name, block);
      for (const spec of block.marker?.kind === 'declare' ? block.marker.modules : []) {
        if (!spec.startsWith('.')) {
          ambient.add(spec);
          continue;
        }
        // Relative names cannot be declared ambiently: a file there exports what the block imports.
        const imported = [...block.code.matchAll(new RegExp(`import\\s*\\{([^}]*)\\}\\s*from\\s*['"]${spec.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}['"]`, 'g'))]
          .flatMap((m) => m[1]!.split(','))
          .map((n) => n.trim().replace(/^type\s+/, '').split(/\s+as\s+/)[0]!)
          .filter((n) => n !== '');
        if (imported.length === 0) results.get(doc)!.push(`${doc}:${block.marker!.line} declare marker: the block imports nothing from '${spec}'`);
        files.set(join(dirname(name), spec.replace(/\.js$/, '.ts')), imported.map((n) => `export declare const ${n}: any;\nexport type ${n} = any;`).join('\n'));
      }
    }
  }
  // Bare names of the reader's own modules: shorthand ambient modules (every import `any`).
  if (ambient.size > 0) files.set(join(virtualDir, 'modules.d.ts'), [...ambient].map((spec) => `declare module '${spec}';`).join('\n'));
  const host = ts.createCompilerHost(OPTIONS);
  const { getSourceFile, fileExists, readFile } = host;
  host.fileExists = (name) => files.has(name) || fileExists.call(host, name);
  // The virtual folders exist for module resolution (a relative import of the reader's own module).
  const { directoryExists } = host;
  host.directoryExists = (name) => name.startsWith(virtualDir) || (directoryExists?.call(host, name) ?? true);
  host.readFile = (name) => files.get(name) ?? readFile.call(host, name);
  host.getSourceFile = (name, language, ...rest) => {
    const text = files.get(name);
    return text === undefined ? getSourceFile.call(host, name, language, ...rest) : ts.createSourceFile(name, text, language);
  };
  const program = ts.createProgram({ rootNames: [...files.keys()], options: OPTIONS, host });
  const skippedFailing = new Set<Block>();
  for (const d of ts.getPreEmitDiagnostics(program)) {
    const block = d.file === undefined ? undefined : byFile.get(d.file.fileName);
    if (block?.marker?.kind === 'skip') {
      skippedFailing.add(block);
      continue;
    }
    const { doc, text } = describeDiagnostic(d, byFile);
    // A diagnostic outside every block (an option, a declaration file) fails every document.
    for (const [key, list] of results) if (doc === undefined || doc === key) list.push(text);
  }
  for (const block of all) {
    if (block.marker?.kind === 'skip' && !skippedFailing.has(block)) results.get(block.doc)!.push(`${block.doc}:${block.marker.line} skip marker on a block that compiles: remove it`);
  }
  return { results, blocks: all };
}

// --- Self-checks: small documents that must fail, checked in the same program. ---

const sqliteReadme = readFileSync(join(root, 'packages/sqlite/README.md'), 'utf8');
/** A copy of the SQLite README with one option renamed in its first example (`path` → `file`). */
const RENAMED_OPTION = "new SqliteStorage({ path: 'accounts.db', name: 'alice' })";

const SELF: Record<string, string> = {
  'self/renamed-option.md': sqliteReadme.replace(RENAMED_OPTION, RENAMED_OPTION.replace('path:', 'file:')),
  'self/free-name.md': ['# x', '', '```ts', "import { SqliteStorage } from '@mtstore/sqlite';", 'await new SqliteStorage(sessionName).load();', '```', ''].join('\n'),
  'self/declared.md': [
    '<!-- declare: storage: import("@mtstore/core").Storage, pairs: Map<string, bigint>, Mine -->',
    '```typescript',
    'await storage.kv.set("k", new Uint8Array(1));',
    'const n: bigint | undefined = pairs.get("a");',
    'new Mine({ any: "thing" });',
    '```',
    '',
    '<!-- declare: storage: import("@mtstore/core").Storage -->',
    '```ts',
    'await storage.kv.set("k", "not bytes");',
    '```',
    '',
    "<!-- declare: '../src/mine.js', 'my-own-package' -->",
    '```ts',
    "import { Mine, type Other } from '../src/mine.js';",
    "import { registerAdapter } from '@mtstore/core';",
    "registerAdapter('mine', () => import('my-own-package'));",
    'const other: Other = new Mine();',
    '```',
    '',
  ].join('\n'),
  'self/markers.md': [
    '<!-- skip: -->',
    '```ts',
    'get(key): Promise<Uint8Array | null>',
    '```',
    '',
    '<!-- skip: a signature listing, not a module -->',
    '```ts',
    'get(key): Promise<Uint8Array | null>',
    '```',
    '',
    '<!-- skip: no longer needed, the block compiles -->',
    '```ts',
    'export const ok: number = 1;',
    '```',
    '',
    '<!-- declare: x -->',
    'Some prose: the marker is not right before a block.',
    '',
    '```sh',
    'npm i @mtstore/sqlite',
    '```',
    '',
    '```js',
    "import { openStorage } from '@mtstore/core';",
    "await openStorage('memory:', { nmae: 'a' });",
    '```',
  ].join('\n'),
};

const docs = new Map(documents().map((doc) => [doc, readFileSync(join(root, doc), 'utf8')]));
const started = performance.now();
const { results, blocks } = checkDocuments(new Map([...docs, ...Object.entries(SELF)]));
const elapsed = performance.now() - started;

describe('documentation examples', () => {
  it('finds every ts/typescript/js block of the documents (the premise)', () => {
    for (const [doc, text] of docs) {
      // An independent count: fences opening with a checked language at the start of a line.
      const fences = text.split('\n').filter((line) => /^ {0,3}(```|~~~)\s*(ts|typescript|js|javascript)\s*$/i.test(line)).length;
      expect(blocks.filter((b) => b.doc === doc).length, doc).toBe(fences);
    }
    expect(blocks.filter((b) => docs.has(b.doc)).length).toBeGreaterThanOrEqual(40);
    expect([...docs.keys()]).toEqual(expect.arrayContaining(['README.md', 'packages/sqlite/README.md', 'adapters-conformance/README.md', 'docs/contract.md']));
  });

  it('compile against the built packages, in one program', () => {
    const failures = [...docs.keys()].flatMap((doc) => results.get(doc)!);
    expect(failures).toEqual([]);
    expect(elapsed).toBeLessThan(25_000);
  });

});

describe('the checker fails on a broken example (self-checks)', () => {
  it('an option renamed in a copy of a real block: the Markdown file and line', () => {
    expect(sqliteReadme).toContain(RENAMED_OPTION);
    const line = sqliteReadme.split('\n').findIndex((l) => l.includes(RENAMED_OPTION)) + 1;
    const column = sqliteReadme.split('\n')[line - 1]!.indexOf('path:') + 1;
    expect(results.get('self/renamed-option.md')).toEqual([expect.stringMatching(new RegExp(`^self/renamed-option\\.md:${line}:${column} TS2353 .*'file' does not exist`))]);
  });

  it('a name the block neither declares nor marks', () => {
    expect(results.get('self/free-name.md')).toEqual([expect.stringMatching(/^self\/free-name\.md:5:\d+ TS2304 Cannot find name 'sessionName'/)]);
  });

  it('declared names are typed: a wrong use of one fails, the right ones pass', () => {
    expect(results.get('self/declared.md')).toEqual([expect.stringMatching(/^self\/declared\.md:10:\d+ TS2345 .*'string'.*'Uint8Array/)]);
  });

  it('a skip without a reason, a stray marker, a js block and a skip that is not needed are reported', () => {
    expect(results.get('self/markers.md')).toEqual([
      expect.stringMatching(/^self\/markers\.md:1 a skip marker needs its reason/),
      expect.stringMatching(/^self\/markers\.md:16 marker not right before a ts\/js block/),
      expect.stringMatching(/^self\/markers\.md:25:\d+ TS2353 .*'nmae'/),
      expect.stringMatching(/^self\/markers\.md:11 skip marker on a block that compiles: remove it/),
    ]);
  });
});
