import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { mergeConfig } from 'vitest/config';
import { packageTestConfig } from '../../vitest.config.base.js';

const here = dirname(fileURLToPath(import.meta.url));

/** The installed @mtcute/test: its package exports only its root entry, which needs @mtcute/web. */
function mtcuteTestDir(): string {
  for (let dir = here; ; dir = dirname(dir)) {
    const candidate = join(dir, 'node_modules', '@mtcute', 'test');
    if (existsSync(candidate)) return candidate;
    if (dirname(dir) === dir) throw new Error('@mtcute/test is not installed (npm ci)');
  }
}

export default mergeConfig(packageTestConfig({ isolate: false }), {
  resolve: {
    alias: [
      // mtcute's storage suites and StubTelegramClient, imported by file.
      { find: /^@mtcute\/test\/(.*)$/, replacement: `${mtcuteTestDir()}/$1` },
      { find: /^@mtcute\/web$/, replacement: join(here, 'test', 'mtcute-web.ts') },
    ],
  },
  test: {
    // @mtcute/test's files import @mtcute/core and vitest: inline them so they share this run's copies.
    server: { deps: { inline: [/@mtcute\/test/] } },
  },
});
