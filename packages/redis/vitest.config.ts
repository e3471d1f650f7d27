import { packageTestConfig } from '../../vitest.config.base.js';

/**
 * Files whose tests time Redis' answers in a hundred milliseconds or so (bus heartbeats
 * every 100 ms, commands against a short commandTimeout): they run after the others,
 * one at a time, with no other file's load on the one Redis (a 10,000-peer script of
 * the kit beside them made a heartbeat test hear lost / live in 2 of 2 runs).
 */
const ALONE = ['test/bus.test.ts', 'test/silent-link.test.ts'];

// Two workers: the other files wait on Redis and on timers most of the time (lease
// TTLs, child processes), so two run side by side. The two kit files and the kill
// storm, the longest, start first: none of them is left to run alone at the end.
const config = packageTestConfig({ maxWorkers: 2, first: ['conformance.test.ts', 'conformance.cluster.test.ts', 'bus-storm.test.ts'] });
const { testTimeout, hookTimeout, include } = config.test ?? {};
export default {
  ...config,
  test: {
    ...config.test,
    // Two groups, one after the other (groupOrder); a project lists its own files (extends would add the include of the root to ALONE).
    projects: [
      { test: { name: 'redis', include, exclude: ALONE, testTimeout, hookTimeout } },
      { test: { name: 'redis-alone', include: ALONE, testTimeout, hookTimeout, maxWorkers: 1, sequence: { groupOrder: 1 } } },
    ],
  },
};
