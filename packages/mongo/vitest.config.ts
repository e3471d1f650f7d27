import { packageTestConfig } from '../../vitest.config.base.js';

// Two files at a time: the kit's three files (test/kit.ts PARTS) beside the rest, most of
// which wait on lease TTLs and racing processes rather than the CPU. Every file works in
// databases of its own, so two never see each other's data. Files share their worker's
// modules (isolate false, see vitest.config.base.ts): test/server.ts closes its admin
// client after each file and the next file opens another.
//
// Longest first (runs of 6 Dec 2026, loaded 2-core machine: the kit's parts 150-200 s
// each, server-race 80-110 s, lease and limits 65-100 s; 7 Dec, load 3-9, after the
// waits of server-race, lease, silent-link and bus-lost were overlapped: the kit's parts
// 45-117 s, server-race and lease 17-24 s, limits 5-24 s), so the two workers end
// together: without a results cache (CI) vitest starts the largest files by bytes, and
// the kit's one file, a few lines, started 27 s in and outlasted every other by 80 s.
export default packageTestConfig({
  maxWorkers: 2,
  isolate: false,
  first: ['conformance-peers.test.ts', 'conformance-processes.test.ts', 'conformance.test.ts', 'server-race.test.ts', 'lease.test.ts', 'limits.test.ts', 'server-remove.test.ts'],
});
