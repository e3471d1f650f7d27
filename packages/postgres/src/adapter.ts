import type { StorageAdapter } from '@mtstore/core';
import { PostgresSessionEventBus } from './bus.js';
import { PostgresStorage } from './client.js';
import { PostgresSessionStorage } from './server.js';

/** mtstore's own URL parameters; everything else is pg's (sslmode, application_name, options…). */
const OWN_PARAMETERS = ['schema', 'session'];

/**
 * `postgres://user:password@host:5432/database?schema=tg&session=alice` (or
 * `postgresql://`). `schema` defaults to `mtstore`; `session` (the session name) is
 * read by core's openStorage. The connection string passed to pg has both removed;
 * other parameters (sslmode, application_name, …) reach pg unchanged.
 */
function fromUrl(url: URL): { connectionString: string; schema?: string } {
  const copy = new URL(url.href);
  const schema = copy.searchParams.get('schema') ?? undefined;
  for (const parameter of OWN_PARAMETERS) copy.searchParams.delete(parameter);
  return schema === undefined ? { connectionString: copy.href } : { connectionString: copy.href, schema };
}

/**
 * `openStorage(url)` → PostgresStorage; `openSessionStorage(url)` → PostgresSessionStorage
 * and a PostgresSessionEventBus on the same schema. Each owns its connection(s); nothing
 * connects before the first operation.
 */
export const adapter: StorageAdapter = {
  openStorage: (url, { name, encryption }) => new PostgresStorage({ ...fromUrl(url), name, encryption }),
  openSessionStorage: (url) => {
    const options = fromUrl(url);
    return { storage: new PostgresSessionStorage(options), bus: new PostgresSessionEventBus(options) };
  },
};
