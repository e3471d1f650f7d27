// The kit's trait groups no part of kit.ts's PARTS names (most of the Storage suite).
import { describeKit } from './kit.js';

describeKit('rest');
