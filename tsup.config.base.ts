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
    ...extra,
  });
}
