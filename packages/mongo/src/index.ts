export { MongoStorage, type MongoStorageOptions, type MongoWriteMode } from './client.js';
export { MongoSessionStorage, type MongoSessionStorageOptions } from './server.js';
export { MongoSessionEventBus, type MongoSessionEventBusOptions } from './bus.js';
export { DEFAULT_DATABASE, DEFAULT_PREFIX, type MongoCloseOptions, type MongoConnectionOptions } from './connection.js';
export { collectionNames, SCHEMA_VERSION, type CollectionNames } from './schema.js';
export { adapter } from './adapter.js';
