export { PostgresStorage, type PostgresStorageOptions } from './client.js';
export { PostgresSessionStorage, type PostgresSessionStorageOptions } from './server.js';
export { PostgresSessionEventBus, type PostgresSessionEventBusOptions } from './bus.js';
export { POOL_DEFAULTS, type PostgresConnectionOptions } from './connection.js';
export { SCHEMA_VERSION } from './schema.js';
export { adapter } from './adapter.js';
