import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const packagesDir = fileURLToPath(new URL('../..', import.meta.url));

/**
 * The options `tsc --init` writes with TypeScript 5.9 (module nodenext, target esnext,
 * strict, noUncheckedIndexedAccess, exactOptionalPropertyTypes, verbatimModuleSyntax,
 * isolatedModules, moduleDetection force, skipLibCheck), with Node's types: a consumer's
 * new project, which the README examples (readme-examples.test.ts) and the packages'
 * declarations (optional-undefined.test.ts) are checked under.
 */
export const CONSUMER_OPTIONS: ts.CompilerOptions = {
  module: ts.ModuleKind.NodeNext,
  moduleResolution: ts.ModuleResolutionKind.NodeNext,
  target: ts.ScriptTarget.ESNext,
  // Node's globals only: with the default lib (DOM), a free `name` or `status` would be
  // the browser's global and pass unnoticed.
  lib: ['lib.esnext.d.ts'],
  types: ['node'],
  strict: true,
  noUncheckedIndexedAccess: true,
  // An example passing a value that may be undefined (`{ connectionString:
  // process.env.DATABASE_URL }`, the `bus` openSessionStorage returns) compiles: the
  // packages' optional properties are `?: T | undefined` (optional-undefined.test.ts).
  exactOptionalPropertyTypes: true,
  verbatimModuleSyntax: true,
  isolatedModules: true,
  noUncheckedSideEffectImports: true,
  moduleDetection: ts.ModuleDetectionKind.Force,
  skipLibCheck: true,
  noEmit: true,
  // typeorm is installed in packages/typeorm/node_modules only (npm nests it there):
  // the TypeORM README's `import { DataSource } from 'typeorm'` resolves to the copy
  // @mtstore/typeorm's declarations use, as it would in an application.
  paths: { typeorm: [join(packagesDir, 'typeorm/node_modules/typeorm/index.d.ts')] },
};
