/**
 * SQLite cannot notify other connections, so there is no cross-process bus: this is
 * core's in-process bus under the adapter's name, for SessionSubjects of one process.
 * Across processes, give each subject a bus of a database that can notify
 * (@mtstore/redis, @mtstore/postgres), or none.
 */
export {
  LocalEventChannel as SqliteEventChannel,
  LocalSessionEventBus as SqliteSessionEventBus,
} from '@mtstore/core';
