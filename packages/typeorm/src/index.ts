export { TypeormStorage, type TypeormStorageOptions } from './client.js';
export { TypeormSessionStorage, type TypeormSessionStorageOptions } from './server.js';
export type { TypeormConnectionOptions } from './connection.js';
export { mtstoreEntities, type MtstoreEntitiesOptions } from './entities.js';
export { mtstoreMigrations, MtstoreMigration1795305600000, MtstoreMigration1796515200000, MtstoreMigration1796860800000, MtstoreMigration1797206400000, type MtstoreMigrationClass } from './migrations.js';
export { DEFAULT_TABLE_PREFIX, SCHEMA_VERSION } from './schema.js';
export { SUPPORTED_DRIVERS } from './dialect.js';
