/**
 * What an adapter package exports as `adapter`, so `openStorage(url)` and
 * `openSessionStorage(url)` in core can open it from a URL after a dynamic import,
 * and a third-party package can plug in its own scheme with `registerAdapter`.
 */
import { InvalidArgumentError } from './errors.js';
import type { SessionEventBus, SessionStorageProtocol, Storage } from './model.js';
import type { EncryptionOptions } from './seal.js';

export interface OpenedSessionStorage {
  storage: SessionStorageProtocol;
  /** The adapter's cross-process bus, where its database can notify. Close it yourself. */
  bus?: SessionEventBus | undefined;
}

export interface StorageAdapter {
  /**
   * Opens client Storage for `url` (the adapter owns and closes the connection).
   * `name` is the session name, already resolved from options or `?session=`;
   * `encryption`, when given, goes to the storage's options unchanged.
   */
  openStorage(url: URL, options: { name: string; encryption?: EncryptionOptions | undefined }): Storage | Promise<Storage>;
  /** Opens server session storage for `url`, and the bus where the database has one. */
  openSessionStorage(url: URL): OpenedSessionStorage | Promise<OpenedSessionStorage>;
}

/**
 * Query parameters whose values are credentials in the URLs adapters take: libpq's
 * `password` / `sslpassword`, MongoDB's `tlsCertificateKeyFilePassword` and
 * `authMechanismProperties` (AWS_SESSION_TOKEN:…), Redis's `?password=`, tokens and
 * signatures of hosted services.
 */
const SECRET_PARAMETER = /pass|secret|token|credential|mechanismproperties|signature|^sig$|private/i;

/**
 * A URL for messages: the password, and the value of every query parameter named like a
 * credential (SECRET_PARAMETER), are replaced, so credentials never reach an error.
 */
export function redactUrl(url: string | URL): string {
  let parsed: URL;
  try {
    parsed = new URL(String(url));
  } catch {
    return '<unparsable url>';
  }
  if (parsed.password) parsed.password = '***';
  // Rebuilt only when a value is hidden: other URLs keep their query exactly as written.
  const params = [...parsed.searchParams];
  if (params.some(([name]) => SECRET_PARAMETER.test(name))) {
    parsed.search = params.map(([name, value]) => `${encodeURIComponent(name)}=${SECRET_PARAMETER.test(name) ? '***' : encodeURIComponent(value)}`).join('&');
  }
  return parsed.toString();
}

/** Shorter secrets are hidden only where they stand alone (hideSecret). */
const SECRET_ANYWHERE = 8;

function secretPattern(secret: string): RegExp {
  const escaped = secret.replace(/[\\^$.*+?()[\]{}|/]/g, '\\$&');
  return secret.length >= SECRET_ANYWHERE ? new RegExp(escaped, 'gu') : new RegExp(`(?<![\\p{L}\\p{N}])${escaped}(?![\\p{L}\\p{N}])`, 'gu');
}

/**
 * True when `text` quotes `secret` (a password) as hideSecret would hide it. Empty or
 * absent: false.
 */
export function quotesSecret(text: string, secret: string | undefined): boolean {
  return secret !== undefined && secret !== '' && secretPattern(secret).test(text);
}

/**
 * `text` (a driver's message) with `secret` (a password) replaced by `***`. A secret of 8
 * characters or more is replaced wherever it occurs; a shorter one only where no letter
 * or digit touches it: a password `a` replaced inside every word made "WRONGPASS invalid
 * username-password pair" read "WRONGPASS inv***lid usern***me-p***ssword p***ir", and a
 * word that merely contains a short password shows nothing of it.
 */
export function hideSecret(text: string, secret: string | undefined): string {
  return secret === undefined || secret === '' ? text : text.replace(secretPattern(secret), '***');
}

/**
 * The value of query parameter `name` in a connection string (`?a=1&b=2`), or undefined
 * when `connectionString` is not a string or has no such parameter. For a driver option
 * the driver itself reads from the string over its config (pg's `query_timeout`), which
 * an adapter must then read the same way.
 */
export function connectionStringParam(connectionString: unknown, name: string): string | undefined {
  if (typeof connectionString !== 'string') return undefined;
  const query = connectionString.indexOf('?');
  return query < 0 ? undefined : (new URLSearchParams(connectionString.slice(query + 1)).get(name) ?? undefined);
}

/**
 * `decodeURIComponent` of one part of connection URL `url` (its path, user name,
 * password, a parameter name): a malformed escape — a `%` not followed by two hex
 * digits, as in a password with a literal `%` — is an InvalidArgumentError naming
 * the part and the URL without its password, not a URIError.
 */
export function decodeUrlPart(part: string, what: string, url: string | URL, where: string): string {
  try {
    return decodeURIComponent(part);
  } catch {
    throw new InvalidArgumentError(`${where}: the ${what} of ${redactUrl(url)} has a malformed %-escape (a literal % is written %25)`);
  }
}
