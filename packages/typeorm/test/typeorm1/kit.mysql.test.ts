import { mysql } from '../drivers.js';
import { describeKit } from './kit.js';

await describeKit(mysql());
