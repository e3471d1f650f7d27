import { createFromUrl, InvalidArgumentError, redactUrl, type StorageAdapter } from '@mtstore/core';
import { PostgresSessionEventBus } from './bus.js';
import { PostgresStorage } from './client.js';
import { assertConnectionParameters, OWN_URL_PARAMETERS, parameterValue } from './connection.js';
import { PostgresSessionStorage } from './server.js';

/**
 * The URL for a message: no password (redactUrl) and no query, where another parameter's
 * value may be a secret too (`sslpassword`, `oauth_client_secret`).
 */
function shownUrl(url: URL): string {
  const shown = new URL(redactUrl(url));
  shown.search = '';
  return shown.href;
}

/**
 * `postgres://user:password@host:5432/database?schema=tg&session=alice&create=false` (or
 * `postgresql://`). `schema` defaults to `mtstore`; `session` (the session name) is
 * read by core's openStorage; `create=false` opens only a store that is there (see
 * PostgresConnectionOptions.create); `prepare=false` sends statements unnamed (see
 * PostgresConnectionOptions.prepare). The connection string passed to pg has these
 * removed; other parameters (sslmode, application_name, …) reach pg unchanged. A
 * parameter neither mtstore, pg nor libpq knows (a typo: `?shema=tg`) is
 * InvalidArgumentError before anything opens (assertConnectionParameters).
 */
function fromUrl(url: URL, where: string): { connectionString: string; schema?: string; create?: boolean; prepare?: boolean } {
  // Labelled 'the URL', not the URL: another parameter's value may be a secret (sslpassword).
  assertConnectionParameters(url.href, 'the URL', where, true);
  const copy = new URL(url.href);
  const schema = copy.searchParams.get('schema') ?? undefined;
  const create = createFromUrl(url, `${where}: ${shownUrl(url)}`);
  const prepare = prepareFromUrl(url, `${where}: ${shownUrl(url)}`);
  for (const parameter of OWN_URL_PARAMETERS) copy.searchParams.delete(parameter);
  return {
    connectionString: copy.href,
    ...(schema === undefined ? {} : { schema }),
    ...(create === undefined ? {} : { create }),
    ...(prepare === undefined ? {} : { prepare }),
  };
}

/**
 * `?prepare=true` / `?prepare=false` (PostgresConnectionOptions.prepare); undefined when
 * the URL has none. Anything else is InvalidArgumentError before any I/O: a typo
 * (`?prepare=no`) must not leave named statements on behind a transaction pooler.
 */
function prepareFromUrl(url: URL, where: string): boolean | undefined {
  const value = url.searchParams.get('prepare');
  if (value === null) return undefined;
  if (value !== 'true' && value !== 'false') throw new InvalidArgumentError(`${where}: URL parameter prepare must be true or false, got ${parameterValue(value)}`);
  return value === 'true';
}

/**
 * `openStorage(url)` → PostgresStorage; `openSessionStorage(url)` → PostgresSessionStorage
 * and a PostgresSessionEventBus on the same schema. Each owns its connection(s); nothing
 * connects before the first operation.
 */
export const adapter: StorageAdapter = {
  openStorage: (url, { name, encryption }) => new PostgresStorage({ ...fromUrl(url, 'openStorage'), name, encryption }),
  openSessionStorage: (url) => {
    // The bus only listens and notifies: it creates nothing, and its statements are never
    // named, so `create` and `prepare` are the storage's alone. (Behind a transaction
    // pooler the bus needs a direct URL: README, Behind PgBouncer.)
    const { create, prepare, ...options } = fromUrl(url, 'openSessionStorage');
    return {
      storage: new PostgresSessionStorage({ ...options, ...(create === undefined ? {} : { create }), ...(prepare === undefined ? {} : { prepare }) }),
      bus: new PostgresSessionEventBus(options),
    };
  },
};
