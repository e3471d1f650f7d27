// The kit's trait groups that no other conformance*.test.ts takes (test/kit.ts, PARTS).
import { describeKit } from './kit.js';

describeKit('rest');
