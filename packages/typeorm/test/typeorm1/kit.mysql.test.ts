import { mysql, pooled } from '../drivers.js';
import { describeKit } from './kit.js';

await describeKit(pooled(mysql()));
