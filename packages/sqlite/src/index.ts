export { SqliteStorage, type SqliteStorageOptions } from './client.js';
export { SqliteSessionStorage, type SqliteSessionStorageOptions } from './server.js';
export { SqliteEventChannel, SqliteSessionEventBus } from './bus.js';
export { DEFAULT_BUSY_TIMEOUT, DEFAULT_TABLE_PREFIX, sessionFilePath, type SqliteConnectionOptions } from './connection.js';
export { SCHEMA_VERSION } from './schema.js';
export { adapter } from './adapter.js';
