import { createFromUrl, redactUrl, type StorageAdapter } from '@mtstore/core';
import { PostgresSessionEventBus } from './bus.js';
import { PostgresStorage } from './client.js';
import { assertConnectionParameters, OWN_URL_PARAMETERS } from './connection.js';
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
 * PostgresConnectionOptions.create). The connection string passed to pg has these
 * removed; other parameters (sslmode, application_name, …) reach pg unchanged. A
 * parameter neither mtstore, pg nor libpq knows (a typo: `?shema=tg`) is
 * InvalidArgumentError before anything opens (assertConnectionParameters).
 */
function fromUrl(url: URL, where: string): { connectionString: string; schema?: string; create?: boolean } {
  // Labelled 'the URL', not the URL: another parameter's value may be a secret (sslpassword).
  assertConnectionParameters(url.href, 'the URL', where, true);
  const copy = new URL(url.href);
  const schema = copy.searchParams.get('schema') ?? undefined;
  const create = createFromUrl(url, `${where}: ${shownUrl(url)}`);
  for (const parameter of OWN_URL_PARAMETERS) copy.searchParams.delete(parameter);
  return { connectionString: copy.href, ...(schema === undefined ? {} : { schema }), ...(create === undefined ? {} : { create }) };
}

/**
 * `openStorage(url)` → PostgresStorage; `openSessionStorage(url)` → PostgresSessionStorage
 * and a PostgresSessionEventBus on the same schema. Each owns its connection(s); nothing
 * connects before the first operation.
 */
export const adapter: StorageAdapter = {
  openStorage: (url, { name, encryption }) => new PostgresStorage({ ...fromUrl(url, 'openStorage'), name, encryption }),
  openSessionStorage: (url) => {
    // The bus only listens and notifies: it creates nothing, so `create` is the storage's alone.
    const { create, ...options } = fromUrl(url, 'openSessionStorage');
    return { storage: new PostgresSessionStorage({ ...options, ...(create === undefined ? {} : { create }) }), bus: new PostgresSessionEventBus(options) };
  },
};
