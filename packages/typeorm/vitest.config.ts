import { packageTestConfig } from '../../vitest.config.base.js';

// Two test files at a time: the three conformance files (SQLite, PostgreSQL, MariaDB:
// ~75 + 150 + 150 s) mostly wait for their servers, so two overlap well, and this
// package is the longest of `npm test` (501 s with one worker, 314 s with two, beside
// mongo's tests as in CI; all passed).
export default packageTestConfig({ maxWorkers: 2 });
