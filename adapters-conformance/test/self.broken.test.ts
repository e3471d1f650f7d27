// Every broken adapter outside TIMED_GROUPS (self.ts).
import { describeBroken, TIMED_GROUPS } from './self.js';

describeBroken((broken) => !TIMED_GROUPS.includes(broken.group));
