import { packageTestConfig } from '../../vitest.config.base.js';

// Two files at a time: the kit's file (~4 min on FerretDB) beside the rest, most of which
// wait on lease TTLs and racing processes rather than the CPU (lease, server-race: ~2 min).
// Every file works in databases of its own, so two never see each other's data. Files
// share their worker's modules (isolate false, see vitest.config.base.ts): test/server.ts
// closes its admin client after each file and the next file opens another.
export default packageTestConfig({ maxWorkers: 2, isolate: false });
