// The shared loopback proxy, by path: this package cannot depend on @mtstore/test-adapters, which depends on it.
export { openProxy, within, type Proxy, type ProxyMode, type ProxyUpOptions } from '../../test-adapters/src/proxy.js';
