// The kit's part 'server' (kit.ts's PARTS): the SessionStorage and SessionEventBus suites and some Storage groups.
import { describeKit } from './kit.js';

describeKit('server');
