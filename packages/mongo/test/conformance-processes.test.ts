// The kit's cross-process, concurrency, lease and generated-data traits (test/kit.ts, PARTS.processes).
import { describeKit } from './kit.js';

describeKit('processes');
