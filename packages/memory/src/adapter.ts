import { createFromUrl, describeParameter, InvalidArgumentError, LocalSessionEventBus, nearestName, type StorageAdapter } from '@mtstore/core';
import { MemorySessionStorage } from './server.js';
import { MemoryStorage } from './client.js';

/**
 * `session` names the client session (core reads it). `create` is taken as every adapter
 * takes it (the CLI's reading commands add `?create=false` to any URL) and checked; a
 * fresh memory store is empty either way, so it changes nothing here.
 */
const PARAMETERS = ['session', 'create'];

/** A parameter nothing reads (`?sesion=`, `?store=shared`) would be dropped without a sign. */
function checkParameters(url: URL, where: string): void {
  for (const key of url.searchParams.keys()) {
    if (PARAMETERS.includes(key)) continue;
    const guess = nearestName(key, PARAMETERS);
    throw new InvalidArgumentError(`${where}: unknown URL parameter ${describeParameter(key)}${guess === undefined ? '' : ` (did you mean "${guess}"?)`}: a memory: URL takes only session and create (each open is a fresh store)`);
  }
  createFromUrl(url, `${where}: ${url.protocol}`);
}

/**
 * `openStorage(null)` / `openStorage('memory:')`: a fresh in-process store. Nothing
 * is shared between two opens (there is no address to share by); the bus is
 * in-process, for SessionSubjects of this process.
 */
export const adapter: StorageAdapter = {
  openStorage: (url, { name, encryption }) => {
    checkParameters(url, 'openStorage');
    return new MemoryStorage({ name, encryption });
  },
  openSessionStorage: (url) => {
    checkParameters(url, 'openSessionStorage');
    return { storage: new MemorySessionStorage(), bus: new LocalSessionEventBus() };
  },
};
