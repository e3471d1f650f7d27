export { StorageSession, type DestroyableClient, type StorageSessionOptions } from './session.js';
export type { WriteErrorHandler } from './writes.js';
