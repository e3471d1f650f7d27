/**
 * The `create` option of every adapter that keeps a store (SQLite file, PostgreSQL
 * schema, TypeORM tables, Redis prefix, MongoDB collections), one rule for all:
 *
 * - `true` (default): a missing store is created on first use.
 * - `false`: only a store that is there is opened. A missing one is NotFoundError
 *   naming what is missing, and nothing is written: no schema, table, key, collection
 *   or index. Tools that only read (`mtstore inspect`, `export`) open this way, so
 *   pointing them at another program's database, or at the wrong prefix, leaves it as
 *   it was. A store that is there is used as with `true`, which includes bringing an
 *   older version of mtstore's own schema up to date: the adapter's code reads only its
 *   current schema, and an older store is mtstore's, not another program's.
 *
 * Adapters validate the option with `createOption` in their constructors (before any
 * I/O), read `?create=` with `createFromUrl` (and a URL's prefix with `prefixFromUrl`) and
 * refuse with `storeNotFound`.
 */
import { InvalidArgumentError, NotFoundError } from './errors.js';
import { describeValue, quotedIfPlain } from './validate.js';

/** The option's value: `true` when not given; InvalidArgumentError naming `where` for anything but a boolean. */
export function createOption(value: unknown, where: string): boolean {
  if (value === undefined) return true;
  if (typeof value !== 'boolean') throw new InvalidArgumentError(`${where}: create must be a boolean, got ${describeValue(value)}`);
  return value;
}

/**
 * `?create=true` / `?create=false` of an adapter URL; undefined when the URL has none.
 * Anything else is InvalidArgumentError (a typo must not turn a read-only open into one
 * that creates). Given more than once, the last counts, as for every other parameter
 * read in a loop over the query.
 */
export function createFromUrl(url: URL, where: string): boolean | undefined {
  let create: boolean | undefined;
  for (const value of url.searchParams.getAll('create')) {
    if (value !== 'true' && value !== 'false') throw new InvalidArgumentError(`${where}: URL parameter create must be true or false, got ${quotedIfPlain(value) ?? `a value of ${value.length} characters (not shown)`}`);
    create = value === 'true';
  }
  return create;
}

/**
 * A store's prefix from its adapter URL (`?prefix=`, `?collectionPrefix=`): undefined when
 * the URL has none. An empty value is InvalidArgumentError: `?prefix=$P` with P unset would
 * open the store under no prefix, beside whatever the database holds, without a word; an
 * empty prefix is written on purpose only as the option (`prefix: ''`).
 */
export function prefixFromUrl(url: URL, parameter: string, where: string): string | undefined {
  const prefix = url.searchParams.get(parameter);
  if (prefix === '') throw new InvalidArgumentError(`${where}: URL parameter "${parameter}" has no value (give one, or leave it out)`);
  return prefix ?? undefined;
}

/**
 * The refusal of `create: false` when the store is not there: `where` (the operation),
 * `location` (which database, schema or prefix, never a password), `library` (the
 * adapter package, whose store it is not) and `missing` (what was looked for and not
 * found, e.g. `no table "tg".migrations`).
 */
export function storeNotFound(where: string, location: string, library: string, missing: string): NotFoundError {
  return new NotFoundError(`${where}: ${location} holds no ${library} store (${missing}); opened with create: false, so nothing was created`);
}
