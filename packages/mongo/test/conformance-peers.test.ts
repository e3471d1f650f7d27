// The kit's peer, reference-message and removal traits (test/kit.ts, PARTS.peers).
import { describeKit } from './kit.js';

describeKit('peers');
