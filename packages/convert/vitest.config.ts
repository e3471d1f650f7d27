import { packageTestConfig } from '../../vitest.config.base.js';

export default packageTestConfig({ isolate: false });
