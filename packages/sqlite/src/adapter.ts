import { fileURLToPath } from 'node:url';
import { createFromUrl, decodeUrlPart, describeParameter, InvalidArgumentError, nearestName, redactUrl, type StorageAdapter } from '@mtstore/core';
import { SqliteStorage } from './client.js';
import type { SqliteConnectionOptions } from './connection.js';
import { SqliteSessionStorage } from './server.js';

/** Query parameters a URL may carry besides core's `session`. */
const PARAMETERS = new Set(['session', 'tablePrefix', 'synchronous', 'busyTimeout', 'mmapSize', 'create']);

/**
 * URL → connection options. Forms (README "URLs"):
 *
 *   bot, ./data/bot.session, /srv/bot   plain paths: core makes them `file:` URLs
 *   file:///srv/bot.session              an absolute file URL
 *   sqlite::memory:                      a private in-memory database
 *   sqlite:data/bot.session              relative to process.cwd()
 *   sqlite:///srv/bot.session            absolute (also sqlite:/srv/bot.session)
 *
 * Every form follows Telethon's naming (no extension → `.session`) and accepts
 * `?tablePrefix=…&synchronous=FULL&busyTimeout=10000&mmapSize=0`; `?session=` names the session.
 */
/**
 * The URL as messages show it: no password and no query. A parameter's value may be a
 * pasted key (`?tablePrefix=<hex>&busyTimeout=`): the message names the parameter instead.
 */
function shown(url: URL): string {
  const copy = new URL(redactUrl(url));
  copy.search = '';
  return copy.href;
}

function optionsFromUrl(url: URL, where: string): SqliteConnectionOptions {
  let path: string;
  if (url.protocol === 'file:') {
    try {
      path = fileURLToPath(url);
    } catch (error) {
      throw new InvalidArgumentError(`${where}: ${shown(url)} is not a local file URL (${(error as Error).message})`);
    }
  } else {
    if (url.host !== '') {
      throw new InvalidArgumentError(`${where}: ${shown(url)} names a host; use sqlite:relative/path, sqlite:///absolute/path or sqlite::memory:`);
    }
    path = decodeUrlPart(url.pathname, 'path', url, where);
  }
  if (path === '') throw new InvalidArgumentError(`${where}: ${shown(url)} has no path`);

  const options: SqliteConnectionOptions = { path };
  for (const [key, value] of url.searchParams) {
    if (!PARAMETERS.has(key)) {
      const guess = nearestName(key, PARAMETERS);
      throw new InvalidArgumentError(`${where}: unknown URL parameter ${describeParameter(key)}${guess === undefined ? '' : ` (did you mean "${guess}"?)`} (known: ${[...PARAMETERS].join(', ')})`);
    }
    // `?tablePrefix=` (a variable left unset, a value cut off) opened the tables without a
    // prefix, beside whatever the file holds, and said nothing. Empty is a value only in the
    // options (`tablePrefix: ''`), where it is written on purpose.
    if (value === '') {
      const instead = key === 'tablePrefix' ? ": for tables without a prefix pass tablePrefix: '' to new SqliteStorage / SqliteSessionStorage" : '';
      throw new InvalidArgumentError(`${where}: ${shown(url)}: URL parameter "${key}" has no value (give one, or leave the parameter out)${instead}`);
    }
    if (key === 'tablePrefix') options.tablePrefix = value;
    else if (key === 'synchronous') options.synchronous = value.toUpperCase() as 'NORMAL' | 'FULL';
    else if (key === 'busyTimeout') options.busyTimeout = /^\d+$/.test(value) ? Number(value) : Number.NaN;
    else if (key === 'mmapSize') options.mmapSize = /^\d+$/.test(value) ? Number(value) : Number.NaN;
    else if (key === 'create') options.create = createFromUrl(url, where);
  }
  return options;
}

/**
 * Opens the file now rather than on first use, so that openStorage() itself reports
 * a file it cannot open or a better-sqlite3 whose native module does not load.
 */
function opened<T extends SqliteStorage | SqliteSessionStorage>(storage: T): T {
  try {
    void storage.database;
  } catch (error) {
    void storage.close();
    throw error;
  }
  return storage;
}

/**
 * `openStorage('bot')`, `openStorage('sqlite::memory:')`, `openSessionStorage('file:///srv/server.db')`.
 * The storages own their connection. SQLite cannot notify other processes, so
 * `openSessionStorage` returns no bus.
 */
export const adapter: StorageAdapter = {
  openStorage: (url, { name, encryption }) => opened(new SqliteStorage({ ...optionsFromUrl(url, 'openStorage'), name, encryption })),
  openSessionStorage: (url) => ({ storage: opened(new SqliteSessionStorage(optionsFromUrl(url, 'openSessionStorage'))) }),
};
