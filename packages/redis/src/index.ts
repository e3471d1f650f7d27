export { RedisStorage, type RedisStorageOptions } from './client.js';
export { RedisSessionStorage, type RedisSessionStorageOptions } from './server.js';
export { RedisSessionEventBus, type RedisSessionEventBusOptions } from './bus.js';
export { CLUSTER_DEFAULTS, DEFAULT_PREFIX, REDIS_DEFAULTS, SENTINEL_DEFAULTS, type RedisClient, type RedisCloseOptions, type RedisConnectionOptions } from './connection.js';
export { clientKeys, eventChannel, SCHEMA_VERSION, schemaKey, sessionsKey, type ClientKeys } from './schema.js';
export { adapter } from './adapter.js';
