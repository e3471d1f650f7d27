import { packageConfig } from '../../tsup.config.base.js';

// ESM only: test code imports it.
export default packageConfig(['src/index.ts', 'src/proxy.ts', 'src/processes.ts', 'src/child.ts', 'src/redis.ts'], { format: ['esm'] });
