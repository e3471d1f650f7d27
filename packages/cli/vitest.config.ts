import { packageTestConfig } from '../../vitest.config.base.js';

// Two workers: the files mostly wait on child processes (the built binary) and servers,
// so two at a time on a 2-core machine took the suite from 151-161 s to 83-84 s wall.
// The two longest files first: in CI (no results cache) vitest orders by file size, and
// either one started last would run alone at the end.
export default packageTestConfig({ maxWorkers: 2, first: ['servers.test.ts', 'bounded-memory.test.ts'] });
