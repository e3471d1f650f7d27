import { defineConfig, type Options } from 'tsup';

/**
 * Every package ships the same way: ESM (`.js`) and CommonJS (`.cjs`) with
 * declarations for both (`.d.ts`, `.d.cts`), behind the package's `exports` map.
 */
export function packageConfig(entry: string[] = ['src/index.ts'], extra: Options = {}) {
  return defineConfig({
    entry,
    format: ['esm', 'cjs'],
    dts: true,
    clean: true,
    sourcemap: true,
    target: 'node20',
    splitting: false,
    treeshake: true,
    // `__MTSTORE_CJS__`: true in the CommonJS build only (core's open.ts loads adapter
    // packages with `require` there, not `import()`: see loadPackage). esbuild turns
    // `require` into a shim in both builds, so the code cannot test for it itself.
    esbuildOptions(options, context) {
      options.define = { ...options.define, __MTSTORE_CJS__: String(context.format === 'cjs') };
    },
    ...extra,
  });
}
