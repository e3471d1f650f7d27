import { packageTestConfig } from '../../vitest.config.base.js';

// Two workers: the files wait on the server most of the time (the kit's fresh schema
// per test, lease TTLs, dark links), so two run side by side. The kit is spread over
// three files (test/kit.ts), started first: no one file holds the run at its end.
export default packageTestConfig({ maxWorkers: 2, first: ['conformance.slow.test.ts', 'conformance.server.test.ts', 'conformance.test.ts'] });
