import { packageTestConfig } from '../../vitest.config.base.js';

// Two files at a time: the kit's file (~4 min on FerretDB) beside the rest, most of which
// wait on lease TTLs and racing processes rather than the CPU (lease, server-race: ~2 min).
// Every file works in databases of its own, so two never see each other's data.
export default packageTestConfig({ maxWorkers: 2 });
