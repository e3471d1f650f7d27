// The kit's part 'slow' (kit.ts's PARTS): lease TTLs, worker processes, big peer batches.
import { describeKit } from './kit.js';

describeKit('slow');
