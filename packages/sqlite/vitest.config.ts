import { mergeConfig } from 'vitest/config';
import { packageTestConfig } from '../../vitest.config.base.js';

// test/build-dist.ts rebuilds dist when src is newer: child processes import the built package.
export default mergeConfig(packageTestConfig({ isolate: false }), { test: { globalSetup: ['test/build-dist.ts'] } });
