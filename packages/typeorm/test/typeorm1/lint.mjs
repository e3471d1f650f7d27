// `npm run lint`, second half: type-checks src and test against TypeORM 1.x
// (tsconfig.typeorm1.json maps `typeorm` to the copy copy.mjs installs), after the
// first half checked them against the 0.3 dev dependency. Without the copy (no network)
// it fails under CI=true and is left out, loudly, elsewhere.
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureTypeorm1, TYPEORM1_VERSION } from './copy.mjs';

const missing = ensureTypeorm1();
if (missing !== undefined) {
  if (process.env.CI === 'true' || process.env.CI === '1') {
    console.error(`type-check against TypeORM ${TYPEORM1_VERSION} cannot run: ${missing}`);
    process.exit(1);
  }
  console.warn(`!!! type-check against TypeORM ${TYPEORM1_VERSION} left out: ${missing}`);
  process.exit(0);
}
const packageDir = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
const result = spawnSync(process.execPath, [tsc, '-p', join(packageDir, 'tsconfig.typeorm1.json')], { stdio: 'inherit' });
process.exit(result.status ?? 1);
