export { MemoryStore, type ClientEntry, type PeerTable, type StoredPeer } from './store.js';
export { MemoryStorage, type MemoryStorageOptions } from './client.js';
export { MemorySessionStorage, type MemorySessionStorageOptions } from './server.js';
export { MemoryEventChannel, MemorySessionEventBus } from './bus.js';
export { adapter } from './adapter.js';
