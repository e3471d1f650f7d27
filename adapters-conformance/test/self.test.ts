// The kit on the reference adapter, and the broken adapters of TIMED_GROUPS (self.ts):
// lease TTLs, reconnects, close()'s grace.
import { describeBroken, describeReference, TIMED_GROUPS } from './self.js';

describeReference();
describeBroken((broken) => TIMED_GROUPS.includes(broken.group));
