import { LocalSessionEventBus, type StorageAdapter } from '@mtstore/core';
import { MemorySessionStorage } from './server.js';
import { MemoryStorage } from './client.js';

/**
 * `openStorage(null)` / `openStorage('memory:')`: a fresh in-process store. Nothing
 * is shared between two opens (there is no address to share by); the bus is
 * in-process, for SessionSubjects of this process.
 */
export const adapter: StorageAdapter = {
  openStorage: (_url, { name, encryption }) => new MemoryStorage({ name, encryption }),
  openSessionStorage: () => ({ storage: new MemorySessionStorage(), bus: new LocalSessionEventBus() }),
};
