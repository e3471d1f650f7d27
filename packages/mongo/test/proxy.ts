/**
 * The shared loopback proxy (packages/test-adapters/src/proxy.ts, by path: this package
 * cannot depend on @mtstore/test-adapters, which depends on it), aimed at MONGODB_URL
 * unless told otherwise.
 */
import { openProxy as open, type Proxy } from '../../test-adapters/src/proxy.js';
import { MONGODB_URL } from './server.js';

export type { Proxy, ProxyMode, ProxyUpOptions } from '../../test-adapters/src/proxy.js';
export { within } from '../../test-adapters/src/proxy.js';
export const openProxy = (target: string | URL | number = MONGODB_URL): Promise<Proxy> => open(target);
