import { pooled, postgres } from '../drivers.js';
import { describeKit } from './kit.js';

await describeKit(pooled(postgres()));
