import { packageTestConfig } from '../vitest.config.base.js';

// Two workers: the self-test waits on timers most of the time (lease TTLs, reconnect
// waits of the broken adapters), so its two files (test/self.ts) run side by side.
export default packageTestConfig({ maxWorkers: 2, first: ['self.test.ts', 'self.broken.test.ts'] });
