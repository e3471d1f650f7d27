/**
 * The memory adapter's bus is core's in-process bus: buses on one channel share
 * events, which is all a single process needs. Re-exported under adapter names so
 * every package reads the same way.
 */
export {
  LocalEventChannel as MemoryEventChannel,
  LocalSessionEventBus as MemorySessionEventBus,
} from '@mtstore/core';
