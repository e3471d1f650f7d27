import { postgres } from '../drivers.js';
import { describeKit } from './kit.js';

await describeKit(postgres());
