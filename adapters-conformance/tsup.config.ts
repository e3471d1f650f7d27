import { packageConfig } from '../tsup.config.base.js';

export default packageConfig(['src/index.ts', 'src/vitest.ts', 'src/worker.ts']);
