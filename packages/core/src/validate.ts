/**
 * The one validation module every adapter uses. Each `assert*` throws
 * InvalidArgumentError naming the argument (a path like `session.dcs[1].port`) and
 * describing what it got — never the contents of a byte array.
 *
 * Adapters call these through the base classes in `base.ts`, so every public method
 * validates before it touches the database.
 */
import { InvalidArgumentError } from './errors.js';
import type {
  ChannelState,
  DataCenter,
  Peer,
  PeerType,
  SelfUser,
  Session,
  SessionEvent,
  SessionUpdate,
  TempAuthKey,
  UpdateState,
} from './model.js';

export const INT64_MIN = -(2n ** 63n);
export const INT64_MAX = 2n ** 63n - 1n;
export const AUTH_KEY_LENGTH = 256;
export const MAX_DC_ID = 1000;
const INT32_MAX = 2 ** 31 - 1;
const UINT32_MAX = 2 ** 32 - 1;
export const PEER_TYPES: readonly PeerType[] = ['user', 'chat', 'channel'];

/**
 * Whether `text` may be bytes written as text — hex, base64, base64url — long enough to
 * be (part of) a key: a caller who passed a key, or a session string, where another
 * value belongs must not find it in the error.
 */
export function looksEncoded(text: string): boolean {
  return text.length >= 32 && ENCODED.test(text);
}
const ENCODED = /^[A-Za-z0-9+/=_-]+$/;

/** 16+ hex digits: 8 bytes of a key or more. */
const LONG_HEX = /^[0-9a-f]{16,}$/i;

/**
 * `text` — a URL parameter's name or value, an option's name — quoted for a message, or
 * undefined when it must not be shown: over 40 characters, encoded-looking (looksEncoded)
 * or 16+ hex digits. A name or value nobody would type may be a pasted key or token
 * (`?<key in hex>`, `?create=<base64>`), as describeValue treats strings.
 */
export function quotedIfPlain(text: string): string | undefined {
  return text.length > 40 || looksEncoded(text) || LONG_HEX.test(text) ? undefined : JSON.stringify(text);
}

/** A URL parameter's name for a message: quoted (quotedIfPlain), else only its length. */
export function describeParameter(name: string): string {
  return quotedIfPlain(name) ?? `(a name of ${name.length} characters, not shown)`;
}

/**
 * Whether text given as a path or URL may be a session string (a login: never echo it):
 * 100+ characters of base64, also with Telethon's `.session` appended. Session strings
 * are 200-360 characters; a path that long without a dot is not one anybody types.
 */
export function maySessionString(text: string): boolean {
  return text.length >= 100 && looksEncoded(text.replace(/\.session$/, ''));
}

/*
 * Byte arguments are recognised by the typed array's own internals, not by `instanceof`
 * and its `length` property, which a caller's object can fake or override: a Proxy of a
 * Uint8Array (whose `length` read throws in the getter), an object whose prototype is
 * Uint8Array.prototype (no bytes at all), a subclass whose `length` getter lies. The
 * getters of %TypedArray%.prototype, captured once here, read the internal slots: the
 * [Symbol.toStringTag] getter answers the kind ('Uint8Array' for a Uint8Array, a Buffer or
 * any subclass of them) and undefined for everything else, a Proxy included, without
 * throwing; the `length` getter the real element count. Neither runs a caller's code.
 */
const TYPED_ARRAY_PROTOTYPE = Reflect.getPrototypeOf(Uint8Array.prototype) as object;
const typedArrayKind = (Reflect.getOwnPropertyDescriptor(TYPED_ARRAY_PROTOTYPE, Symbol.toStringTag) as PropertyDescriptor).get as () => unknown;
const typedArrayLength = (Reflect.getOwnPropertyDescriptor(TYPED_ARRAY_PROTOTYPE, 'length') as PropertyDescriptor).get as () => number;
const typedArrayBuffer = (Reflect.getOwnPropertyDescriptor(TYPED_ARRAY_PROTOTYPE, 'buffer') as PropertyDescriptor).get as () => ArrayBufferLike;
const typedArrayOffset = (Reflect.getOwnPropertyDescriptor(TYPED_ARRAY_PROTOTYPE, 'byteOffset') as PropertyDescriptor).get as () => number;
const apply = Reflect.apply;

/**
 * The length of `value` when it really is a Uint8Array (a Buffer and any subclass too),
 * read from its internals; -1 for anything else (a Proxy, a fake on Uint8Array.prototype,
 * another kind of typed array). Runs none of the caller's code, and costs a few ns: the
 * byte checks of the hot writes (authKeys.set, kv.set, a peer's `complete`) use it.
 */
export const bytesLength: (value: unknown) => number = (() => {
  // The getters and Reflect.apply as `const` bindings of this closure's scope, not the
  // module's: the bundler (esbuild) turns a module's top-level `const` into `var`, a
  // mutable slot of the module context that V8 loads on every call, calling what it
  // holds through the generic Call builtin; a closure's `const` is an immutable slot
  // TurboFan folds into the caller's code once it inlines the closure, and the getter
  // calls become direct (callgrind, a call in a loop: ~110 instructions against ~180).
  const kind = typedArrayKind;
  const length = typedArrayLength;
  const call = apply;
  return (value: unknown): number => (call(kind, value, []) === 'Uint8Array' ? call(length, value, []) : -1);
})();

/**
 * A plain Uint8Array over the bytes of `value`, a real Uint8Array of `length` bytes
 * (bytesLength), made from its internals (`buffer`, `byteOffset`): what a subclass
 * overrides plays no part. A short one (at most 64 bytes, which V8 keeps inside its heap
 * until something asks for its buffer) is copied instead: cheaper than moving it out.
 */
export function bytesView(value: Uint8Array, length: number): Uint8Array {
  if (length <= 64) return new Uint8Array(value);
  return new Uint8Array(apply(typedArrayBuffer, value, []), apply(typedArrayOffset, value, []), length);
}

/** The class name of a real Uint8Array (bytesLength >= 0) for messages: read from own data properties only, never a getter's answer. */
function bytesName(value: object): string {
  try {
    const proto = Reflect.getPrototypeOf(value);
    if (proto === Uint8Array.prototype || proto === null) return 'Uint8Array';
    const constructor: unknown = Reflect.getOwnPropertyDescriptor(proto, 'constructor')?.value;
    const name: unknown = typeof constructor === 'function' ? Reflect.getOwnPropertyDescriptor(constructor, 'name')?.value : undefined;
    return typeof name === 'string' && /^[A-Za-z_$][A-Za-z0-9_$]{0,39}$/.test(name) && !looksEncoded(name) ? name : 'Uint8Array';
  } catch {
    // A prototype that is a Proxy whose trap throws.
    return 'Uint8Array';
  }
}

/** The longest delay Node's timers hold: a longer one fires after 1 ms. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * A delay option in milliseconds (a timeout, an interval, a retry wait), checked before
 * any I/O: a number from `min` to MAX_TIMER_MS, an integer unless `integer` is false.
 * Past the bound Node's timer fires after 1 ms (a poll or retry loop without pause,
 * every statement timed out at once). `label` names it ("PostgresStorage: closeTimeoutMillis").
 */
export function assertTimerMs(value: unknown, label: string, min = 1, integer = true): asserts value is number {
  if (typeof value !== 'number' || !(integer ? Number.isInteger(value) : Number.isFinite(value)) || value < min || value > MAX_TIMER_MS) {
    throw new InvalidArgumentError(`${label} must be ${integer ? 'an integer' : 'a'} number of ms from ${min} to ${MAX_TIMER_MS}, got ${describeValue(value)}`);
  }
}

/**
 * A short, secret-free description of a value for error messages. A string is quoted
 * when it is short and cannot be encoded bytes; a longer one (whatever it holds: a key
 * in hex with a prefix is still a key) only by its length.
 */
export function describeValue(value: unknown): string {
  if (value === null) return 'null';
  const bytes = bytesLength(value);
  if (bytes >= 0) return `${bytesName(value as object)}(${bytes} bytes)`;
  if (Array.isArray(value)) return `an array of ${value.length}`;
  switch (typeof value) {
    case 'undefined':
      return 'undefined';
    case 'bigint':
      return `${value}n`;
    case 'number':
      return `number ${value}`;
    case 'boolean':
      return String(value);
    case 'string':
      return value.length > 40 || looksEncoded(value) ? `a string of ${value.length} chars (not shown)` : `string ${JSON.stringify(value)}`;
    case 'symbol':
      return 'a symbol';
    case 'function':
      return 'a function';
    default:
      return 'an object';
  }
}

/**
 * The name in `known` nearest to `name`, for an "unknown option (did you mean …?)"
 * message: at most 2 edits away (a typo is one or two keystrokes), the first of equally
 * near ones; undefined when none is that near. `ignoreCase` compares lower-cased names
 * (for options a driver reads case-insensitively).
 */
export function nearestName(name: string, known: Iterable<string>, ignoreCase = false): string | undefined {
  const fold = (s: string) => (ignoreCase ? s.toLowerCase() : s);
  const a = fold(name);
  let best: string | undefined;
  let bestDistance = 3;
  for (const candidate of known) {
    const b = fold(candidate);
    if (Math.abs(a.length - b.length) >= bestDistance) continue;
    // Levenshtein distance, one row at a time.
    let row = Array.from({ length: b.length + 1 }, (_, j) => j);
    for (let i = 1; i <= a.length; i++) {
      const next = [i];
      for (let j = 1; j <= b.length; j++) next[j] = Math.min((row[j] as number) + 1, (next[j - 1] as number) + 1, (row[j - 1] as number) + (a[i - 1] === b[j - 1] ? 0 : 1));
      row = next;
    }
    const d = row[b.length] as number;
    if (d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  return best;
}

/**
 * An option that may be left out: `undefined`, or a value of `type`; else
 * InvalidArgumentError "`label` must be a `type`, got …" — the check every constructor
 * and factory makes of its flags and hooks before any I/O (a hook that is not a function
 * would otherwise throw only when first called, a flag like `'no'` read as true).
 */
export function assertOptional(value: unknown, type: 'boolean' | 'function', label: string): void {
  if (value !== undefined && typeof value !== type) throw new InvalidArgumentError(`${label} must be a ${type}, got ${describeValue(value)}`);
}

/**
 * An own property of `options` whose name is not in `known` is InvalidArgumentError
 * naming the nearest known one (a misspelt option was ignored: `{ encrypton }` stored
 * auth keys in plaintext, `{ nmae }` opened session "default"). Values are never shown,
 * nor a name that could be key text pasted in the wrong place. `hint` ends the message.
 *
 * A known option whose value is `null` is InvalidArgumentError too (docs/contract.md
 * §8): an option is either left out (`undefined`: its default) or a valid value. Each
 * adapter's `??` default took `null` for "left out" while its own checks refused it
 * elsewhere (`{ collectionPrefix: null }` opened the default prefix, `{ tablePrefix:
 * null }` was refused), so one caller's config meant different things per adapter.
 * Checked here, where every constructor and factory already passes its options. No
 * option takes `null` as a value today; one that does must be checked by its owner
 * before this runs, and documented so.
 */
export function assertKnownOptions(options: object, known: readonly string[], where: string, hint = `known options: ${known.join(', ')}`): void {
  for (const option of Object.keys(options)) {
    if (known.includes(option)) {
      // The descriptor, not a read: no getter of the caller's runs here (a getter's
      // answer is left to the option's own check).
      if (Reflect.getOwnPropertyDescriptor(options, option)?.value === null) {
        throw new InvalidArgumentError(`${where}: ${option} must not be null: leave it out (or undefined) for its default, or give a value`);
      }
      continue;
    }
    const guess = nearestName(option, known);
    const shown = /^[A-Za-z_$][\w$]{0,31}$/.test(option) && !/^[0-9A-Fa-f]{16,}$/.test(option) ? `"${option}"` : `(${option.length} chars, not shown)`;
    throw new InvalidArgumentError(`${where}: unknown option ${shown}${guess === undefined ? '' : ` (did you mean "${guess}"?)`}; ${hint}`);
  }
}

/**
 * `options` as given, after assertKnownOptions when it is an object: for an adapter's
 * constructor, which checks it inside its `super(...)` call (before any field of the
 * instance exists); other shapes are left to the constructor's own checks.
 */
export function withKnownOptions<T>(options: T, known: readonly string[], where: string): T {
  if (typeof options === 'object' && options !== null) assertKnownOptions(options, known, where);
  return options;
}

/**
 * The names of every option of `T`, checked by the compiler: a name `T` does not have
 * is an error, and so is leaving one of its options out (the list would refuse it at
 * run time): `optionNames<FooOptions>()(['a', 'b'])`.
 */
export function optionNames<T extends object>(): <const K extends readonly (keyof T & string)[]>(
  names: K,
  ...complete: [Exclude<keyof T & string, K[number]>] extends [never] ? [] : [missing: Exclude<keyof T & string, K[number]>]
) => readonly string[] {
  return (names: readonly string[], ..._complete: unknown[]) => names;
}

function fail(label: string, expected: string, value: unknown): never {
  throw new InvalidArgumentError(`${label} must be ${expected}, got ${describeValue(value)}`);
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  // ArrayBuffer.isView, not instanceof: it reads internals (a Proxy's trap never runs).
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !ArrayBuffer.isView(value);
}

function assertRecord(value: unknown, label: string): asserts value is Record<string, unknown> {
  if (!isRecord(value)) fail(label, 'an object', value);
}

function assertArray(value: unknown, label: string): asserts value is readonly unknown[] {
  if (!Array.isArray(value)) fail(label, 'an array', value);
}

function isOptionalBoolean(value: unknown): value is boolean | undefined {
  return value === undefined || typeof value === 'boolean';
}

function assertOptionalBoolean(value: unknown, label: string): asserts value is boolean | undefined {
  if (!isOptionalBoolean(value)) fail(label, 'a boolean', value);
}

/** assertInt64's rule as a boolean. */
function isInt64(value: unknown): value is bigint {
  return typeof value === 'bigint' && value >= INT64_MIN && value <= INT64_MAX;
}

/** A Telegram/MTProto 64-bit id: a bigint in the signed 64-bit range. */
export function assertInt64(value: unknown, label: string): asserts value is bigint {
  if (typeof value !== 'bigint') fail(label, 'a bigint', value);
  if (!isInt64(value)) fail(label, 'within the signed 64-bit range', value);
}

function isIntegerIn(value: unknown, min: number, max: number): value is number {
  return (
    // Stryker disable next-line ConditionalExpression: equivalent where it becomes true: Number.isInteger is false for every non-number (it converts nothing). The whole test's true / false start on this line too, and go with it
    typeof value === 'number' &&
    Number.isInteger(value) &&
    value >= min &&
    value <= max
  );
}

function assertIntegerIn(value: unknown, label: string, min: number, max: number): asserts value is number {
  if (!isIntegerIn(value, min, max)) fail(label, `an integer from ${min} to ${max}`, value);
}

function isDcId(value: unknown): value is number {
  return isIntegerIn(value, 1, MAX_DC_ID);
}

/** DC ids are small integers 1..1000 (test and media DCs included). */
export function assertDcId(value: unknown, label: string): asserts value is number {
  assertIntegerIn(value, label, 1, MAX_DC_ID);
}

function isPort(value: unknown): value is number {
  return isIntegerIn(value, 1, 65535);
}

export function assertPort(value: unknown, label: string): asserts value is number {
  assertIntegerIn(value, label, 1, 65535);
}

function isEpochSeconds(value: unknown): value is number {
  return isIntegerIn(value, 0, UINT32_MAX);
}

/** Epoch seconds as an unsigned 32-bit integer; a millisecond timestamp is rejected. */
export function assertEpochSeconds(value: unknown, label: string): asserts value is number {
  if (typeof value === 'number' && Number.isInteger(value) && value > UINT32_MAX) {
    fail(label, 'epoch seconds (not milliseconds), at most 4294967295', value);
  }
  assertIntegerIn(value, label, 0, UINT32_MAX);
}

/** pts, qts, seq and similar counters: non-negative 32-bit integers. */
export function assertCounter(value: unknown, label: string): asserts value is number {
  assertIntegerIn(value, label, 0, INT32_MAX);
}

/**
 * What an error may say about a value in a secret field (an auth key, a kv value):
 * its type and size, never its contents, whatever the caller passed (a hex string
 * holding a key is as secret as the bytes).
 */
export function describeSecret(value: unknown): string {
  const bytes = bytesLength(value);
  if (bytes >= 0) return `${bytesName(value as object)}(${bytes} bytes)`;
  if (typeof value === 'string') return `a string of ${value.length} chars (not shown)`;
  if (Array.isArray(value)) return `an array of ${value.length} (not shown)`;
  if (value === null || value === undefined || typeof value === 'boolean') return String(value);
  return `${typeof value === "object" ? "an object" : `a ${typeof value}`} (not shown)`;
}

function failSecret(label: string, expected: string, value: unknown): never {
  throw new InvalidArgumentError(`${label} must be ${expected}, got ${describeSecret(value)}`);
}

function isAuthKey(value: unknown): value is Uint8Array {
  return bytesLength(value) === AUTH_KEY_LENGTH;
}

export function assertAuthKey(value: unknown, label: string): asserts value is Uint8Array {
  if (!isAuthKey(value)) failSecret(label, `a Uint8Array of ${AUTH_KEY_LENGTH} bytes`, value);
}

/** Longest kv value, in bytes: comfortably above what clients keep there (mtcute's salts: ~1 KiB). */
export const MAX_KV_VALUE_BYTES = 65_536;
const KV_KEY = /^[\x21-\x7e]{1,255}$/;

/**
 * True for a valid kv key (the test behind assertKvKey, for fast paths that validate
 * inline). Keys as short as clients use (`salts:2`, `updates_pts`) are checked by a
 * char loop, about half the cost of a regex call; longer ones by the regex, which is faster there.
 */
export function isKvKey(value: unknown): value is string {
  if (typeof value !== 'string') return false;
  const length = value.length;
  if (length > 32) return KV_KEY.test(value);
  if (length === 0) return false;
  for (let i = 0; i < length; i++) {
    const code = value.charCodeAt(i);
    if (code < 0x21 || code > 0x7e) return false;
  }
  return true;
}

/** kv keys: 1-255 printable ASCII characters, no spaces. */
export function assertKvKey(value: unknown, label: string): asserts value is string {
  if (!isKvKey(value)) fail(label, 'a key of 1-255 printable ASCII characters without spaces', value);
}

/** kv values are treated as secret: a bridge may keep key material there. */
export function assertKvValue(value: unknown, label: string): asserts value is Uint8Array {
  const length = bytesLength(value);
  if (length < 0 || length > MAX_KV_VALUE_BYTES) failSecret(label, `a Uint8Array of at most ${MAX_KV_VALUE_BYTES} bytes`, value);
}

/** `kv.set` options: `{ secret?: boolean }`. */
export function assertKvSetOptions(value: unknown, label: string): asserts value is { secret?: boolean } {
  if (!isRecord(value)) fail(label, 'an object like { secret: true }', value);
  if (value.secret !== undefined && typeof value.secret !== 'boolean') fail(`${label}.secret`, 'a boolean', value.secret);
}

/** Message ids: positive 32-bit integers. */
export function assertMessageId(value: unknown, label: string): asserts value is number {
  assertIntegerIn(value, label, 1, INT32_MAX);
}

/** A list of message ids, at most 10000 per call (empty: a delete of nothing, which the kit relies on). */
export function assertMessageIds(value: unknown, label: string): asserts value is readonly number[] {
  assertArray(value, label);
  if (value.length > 10_000) fail(label, 'at most 10000 message ids', value);
  for (let i = 0; i < value.length; i++) assertMessageId(value[i], `${label}[${i}]`);
}

/** Temp key slots: 0..2^31-1. */
export function assertTempKeyIndex(value: unknown, label: string): asserts value is number {
  assertCounter(value, label);
}

/** `PeerCache.list` page size. */
export const MAX_PEER_PAGE = 10_000;

const HOST_LABEL = /^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$/;

/** A DNS name: dot-separated labels of letters, digits and inner hyphens, at most 253 characters, not all-numeric. */
function isHost(value: unknown): value is string {
  return typeof value === 'string' && value.length <= 253 && value.split('.').every((part) => HOST_LABEL.test(part)) && !/^[0-9.]+$/.test(value);
}

export function assertHost(value: unknown, label: string): asserts value is string {
  if (!isHost(value)) fail(label, 'a host name (letters, digits, hyphens and dots)', value);
}

export const MAX_DISPLAY_NAME = 1024;
export const MAX_COMPLETE_BYTES = 65_536;

/**
 * The username rule (`/^[A-Za-z0-9_]{1,64}$/`) in one char loop (on a peer's short name a
 * fraction of a RegExp test) with a hash on the way: -1 when `value` is not a username, else
 * a 31-bit FNV-1a of its characters each `| 0x20` (over A-Z a-z 0-9 _ that folds exactly
 * the two cases of a letter together), so names equal case-insensitively hash equal.
 * isPeer validates a peer's names with it and leaves the hashes in `peerHashes` for
 * checkPeerBatch (peers.ts), which would otherwise scan every name a second time.
 */
export function usernameHash(value: unknown): number {
  if (typeof value !== 'string') return -1;
  const length = value.length;
  if (length === 0 || length > 64) return -1;
  let h = 0x811c_9dc5;
  for (let i = 0; i < length; i++) {
    const code = value.charCodeAt(i);
    if (code >= 0x61) {
      if (code > 0x7a) return -1;
    } else if ((code < 0x41 || code > 0x5a) && (code < 0x30 || code > 0x39) && code !== 0x5f) return -1;
    h = Math.imul(h ^ (code | 0x20), 0x0100_0193);
  }
  return h >>> 1;
}

/** isPhone's rule with a hash on the way (usernameHash's, without folding): -1 when `value` is not a phone. */
export function phoneHash(value: unknown): number {
  if (typeof value !== 'string') return -1;
  const length = value.length;
  if (length === 0 || length > 20) return -1;
  let h = 0x811c_9dc5;
  for (let i = 0; i < length; i++) {
    const code = value.charCodeAt(i);
    if (code < 0x30 || code > 0x39) return -1;
    h = Math.imul(h ^ code, 0x0100_0193);
  }
  return h >>> 1;
}

/**
 * What the last isPeer call that answered true hashed (usernameHash of each username, in
 * order; phoneHash of the phone, -1 without one), and takeCheckedPeer's length of the
 * peer's `complete` bytes (when it has them). Module state, read right after that call
 * by checkPeerBatch and takeInOrderBatch: no array per peer.
 */
export const peerHashes = { names: [0], phone: -1, complete: 0 };

/** A username: 1-64 ASCII letters, digits and underscores (`/^[A-Za-z0-9_]{1,64}$/`). */
export function isUsername(value: unknown): value is string {
  return usernameHash(value) >= 0;
}

/**
 * The lookup key of a username (usernameKey: lower-cased), or undefined when `value` is
 * not a username (isUsername). A name without an upper-case letter is its own key, and
 * no toLowerCase runs (which scans and answers even an all-lower-case name in ~170
 * instructions: callgrind of `node bench/lookup-icount.mjs username`).
 */
export function usernameLookupKey(value: unknown): string | undefined {
  if (usernameLookupHash(value) < 0) return undefined;
  return lookedUpKey(value as string);
}

/** The lookup key of the name usernameLookupHash just answered a hash for: lower-cased only when it has an upper-case letter. */
export function lookedUpKey(name: string): string {
  return usernameLookup.mixed ? name.toLowerCase() : name;
}

/**
 * usernameLookupKey with usernameHash's hash on the way, for peers.getByUsername: the
 * hash (-1 when `value` is not a username), and in `usernameLookup.mixed` whether the
 * name has an upper-case letter (then its key is its lower-cased form). One scan where
 * the lookup took two (core's check, then the memory index hashing the key again).
 */
export function usernameLookupHash(value: unknown): number {
  if (typeof value !== 'string') return -1;
  const length = value.length;
  if (length === 0 || length > 64) return -1;
  let mixed = false;
  let h = 0x811c_9dc5;
  for (let i = 0; i < length; i++) {
    const code = value.charCodeAt(i);
    if (code >= 0x61) {
      if (code > 0x7a) return -1;
    } else if (code >= 0x41 && code <= 0x5a) mixed = true;
    else if ((code < 0x30 || code > 0x39) && code !== 0x5f) return -1;
    h = Math.imul(h ^ (code | 0x20), 0x0100_0193);
  }
  usernameLookup.mixed = mixed;
  return h >>> 1;
}

/** What the last usernameLookupHash call that answered a hash found (module state: no object per lookup). */
export const usernameLookup = { mixed: false };

/** A phone: 1-20 ASCII digits (`/^[0-9]{1,20}$/`), checked by a char loop like isUsername. */
export function isPhone(value: unknown): value is string {
  if (typeof value !== 'string') return false;
  const length = value.length;
  if (length === 0 || length > 20) return false;
  for (let i = 0; i < length; i++) {
    const code = value.charCodeAt(i);
    if (code < 0x30 || code > 0x39) return false;
  }
  return true;
}

/** Letters, digits and underscores, without the leading `@`. */
export function assertUsername(value: unknown, label: string): asserts value is string {
  if (!isUsername(value)) {
    const hint = typeof value === 'string' && value.startsWith('@') ? ' (without the leading @)' : '';
    fail(label, `a username of 1-64 letters, digits or underscores${hint}`, value);
  }
}

/** Digits only: no `+`, spaces or dashes. */
export function assertPhone(value: unknown, label: string): asserts value is string {
  if (!isPhone(value)) fail(label, 'a phone number of 1-20 digits only', value);
}

export function assertPeerType(value: unknown, label: string): asserts value is PeerType {
  if (!PEER_TYPES.includes(value as PeerType)) fail(label, `one of ${PEER_TYPES.map((t) => `'${t}'`).join(', ')}`, value);
}

const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;

function isIpv4(value: unknown): value is string {
  return typeof value === 'string' && IPV4.test(value);
}

export function assertIpv4(value: unknown, label: string): asserts value is string {
  if (!isIpv4(value)) fail(label, 'a dotted-quad IPv4 address', value);
}

function isHexDigit(c: number): boolean {
  return (c >= 48 && c <= 57) || (c >= 65 && c <= 70) || (c >= 97 && c <= 102);
}

/**
 * RFC 4291 text form: eight hex groups of 1-4 digits, one `::` at most standing for
 * one or more zero groups, an optional dotted-quad tail worth two groups. A single
 * scan: this runs for every DC on every save and load.
 */
function isIpv6(value: string): boolean {
  const n = value.length;
  if (n < 2 || n > 45) return false;
  let groups = 0;
  let digits = 0;
  let compressed = false;
  let i = 0;
  if (value.charCodeAt(0) === 58) {
    if (value.charCodeAt(1) !== 58) return false;
    compressed = true;
    i = 2;
  }
  let groupStart = i;
  for (; i < n; i++) {
    const c = value.charCodeAt(i);
    if (c === 58) {
      if (digits === 0) return false;
      groups++;
      digits = 0;
      if (value.charCodeAt(i + 1) === 58) {
        if (compressed) return false;
        compressed = true;
        i++;
      } else if (i + 1 === n) {
        return false;
      }
      groupStart = i + 1;
    } else if (c === 46) {
      if (!IPV4.test(value.slice(groupStart))) return false;
      groups += 2;
      return compressed ? groups <= 7 : groups === 8;
    } else if (!isHexDigit(c) || ++digits > 4) {
      return false;
    }
  }
  if (digits > 0) groups++;
  return compressed ? groups <= 7 : groups === 8;
}

function isIpv6Address(value: unknown): value is string {
  return typeof value === 'string' && isIpv6(value);
}

export function assertIpv6(value: unknown, label: string): asserts value is string {
  if (!isIpv6Address(value)) fail(label, 'an IPv6 address without brackets', value);
}

/*
 * Each rule of a session below is written twice: as a boolean test that builds no label
 * strings (isSession and the is* it calls), run first on every save and load, and as the
 * labelled checks (explain*, assert*), run only for a value the boolean test refuses, to
 * say which field breaks which rule: a valid session of a few DCs with keys would
 * otherwise build dozens of labels (`session.dcs[2].tempAuthKeys[0].expiresAt`) nobody
 * reads. Keep each pair in step: validate-session-fast.test.ts checks with fast-check
 * that they accept exactly the same values. What both share (the is* helpers above,
 * the repeats* below) is written once.
 */

function isTempAuthKey(value: unknown): value is TempAuthKey {
  return isRecord(value) && isCounter(value.index) && isAuthKey(value.key) && isEpochSeconds(value.expiresAt);
}

function assertTempAuthKey(value: unknown, label: string): asserts value is TempAuthKey {
  assertRecord(value, label);
  assertCounter(value.index, `${label}.index`);
  assertAuthKey(value.key, `${label}.key`);
  assertEpochSeconds(value.expiresAt, `${label}.expiresAt`);
}

/** Whether temps[i] (a valid temp key) has the index of one before it: a DC holds one key a slot. */
function repeatsTempIndex(temps: readonly unknown[], i: number): boolean {
  const index = (temps[i] as TempAuthKey).index;
  for (let j = 0; j < i; j++) if ((temps[j] as TempAuthKey).index === index) return true;
  return false;
}

/** assertDataCenter's rules as a boolean, building no label strings. */
export function isDataCenter(value: unknown): value is DataCenter {
  if (!isRecord(value) || !isDcId(value.id)) return false;
  const { ipv4, ipv6, host, port, authKey, tempAuthKeys: temps } = value;
  if (ipv4 !== undefined && !isIpv4(ipv4)) return false;
  if (ipv6 !== undefined && !isIpv6Address(ipv6)) return false;
  if (host !== undefined && !isHost(host)) return false;
  if (port === undefined ? ipv4 !== undefined || ipv6 !== undefined || host !== undefined : !isPort(port)) return false;
  if (!isOptionalBoolean(value.testMode) || !isOptionalBoolean(value.mediaOnly)) return false;
  if (authKey !== undefined && !isAuthKey(authKey)) return false;
  if (temps === undefined) return true;
  if (!Array.isArray(temps)) return false;
  for (let i = 0; i < temps.length; i++) if (!isTempAuthKey(temps[i]) || repeatsTempIndex(temps, i)) return false;
  return true;
}

export function assertDataCenter(value: unknown, label: string): asserts value is DataCenter {
  if (!isDataCenter(value)) explainDataCenter(value, label);
}

/** A DC's rules, one labelled check a field: throws for the first rule `value` breaks. */
export function explainDataCenter(value: unknown, label: string): asserts value is DataCenter {
  assertRecord(value, label);
  assertDcId(value.id, `${label}.id`);
  if (value.ipv4 !== undefined) assertIpv4(value.ipv4, `${label}.ipv4`);
  if (value.ipv6 !== undefined) assertIpv6(value.ipv6, `${label}.ipv6`);
  if (value.host !== undefined) assertHost(value.host, `${label}.host`);
  // An entry may hold only keys (a DC whose address was never saved); an address needs its port.
  if (value.port !== undefined) assertPort(value.port, `${label}.port`);
  else if (value.ipv4 !== undefined || value.ipv6 !== undefined || value.host !== undefined) fail(`${label}.port`, 'a port when an address is given', value.port);
  assertOptionalBoolean(value.testMode, `${label}.testMode`);
  assertOptionalBoolean(value.mediaOnly, `${label}.mediaOnly`);
  if (value.authKey !== undefined) assertAuthKey(value.authKey, `${label}.authKey`);
  const temps = value.tempAuthKeys;
  if (temps !== undefined) {
    assertArray(temps, `${label}.tempAuthKeys`);
    for (let i = 0; i < temps.length; i++) {
      const temp = temps[i];
      assertTempAuthKey(temp, `${label}.tempAuthKeys[${i}]`);
      if (repeatsTempIndex(temps, i)) fail(`${label}.tempAuthKeys[${i}].index`, 'unique within its DC', temp.index);
    }
  }
}

/** assertSelfUser's rules as a boolean, building no label strings. */
export function isSelfUser(value: unknown): value is SelfUser {
  if (!isRecord(value)) return false;
  const usernames = value.usernames;
  return (
    isInt64(value.id) &&
    isDcId(value.dcId) &&
    typeof value.bot === 'boolean' &&
    (usernames === undefined || isUsernameList(usernames)) &&
    isOptionalBoolean(value.premium)
  );
}

function assertSelfUser(value: unknown, label: string): asserts value is SelfUser {
  if (!isSelfUser(value)) explainSelfUser(value, label);
}

/** The self user's rules, one labelled check a field: throws for the first rule `value` breaks. */
export function explainSelfUser(value: unknown, label: string): asserts value is SelfUser {
  assertRecord(value, label);
  assertInt64(value.id, `${label}.id`);
  assertDcId(value.dcId, `${label}.dcId`);
  if (typeof value.bot !== 'boolean') fail(`${label}.bot`, 'a boolean', value.bot);
  if (value.usernames !== undefined) assertUsernames(value.usernames, `${label}.usernames`);
  assertOptionalBoolean(value.premium, `${label}.premium`);
}

/**
 * Whether usernames[i] (a username) equals one before it case-insensitively. Quadratic,
 * but an account has a handful of usernames at most: cheaper than a Set.
 */
function repeatsUsername(usernames: readonly unknown[], i: number): boolean {
  // Stryker disable next-line ConditionalExpression: equivalent where it becomes false: for i = 0 the loop below runs no turn and answers false; the shortcut spares one toLowerCase (its `true`, never answering, goes with it)
  if (i === 0) return false;
  const key = (usernames[i] as string).toLowerCase();
  for (let j = 0; j < i; j++) if ((usernames[j] as string).toLowerCase() === key) return true;
  return false;
}

/** assertUsernames' rules as a boolean. */
function isUsernameList(usernames: unknown): usernames is string[] {
  if (!Array.isArray(usernames)) return false;
  for (let i = 0; i < usernames.length; i++) if (!isUsername(usernames[i]) || repeatsUsername(usernames, i)) return false;
  return true;
}

function assertUsernames(usernames: unknown, label: string): asserts usernames is string[] {
  assertArray(usernames, label);
  for (let i = 0; i < usernames.length; i++) {
    const username = usernames[i];
    assertUsername(username, `${label}[${i}]`);
    if (repeatsUsername(usernames, i)) fail(`${label}[${i}]`, 'unique (case-insensitively) in the list', username);
  }
}

/** assertCounter's rule as a boolean: a non-negative 32-bit integer. */
function isCounter(value: unknown): boolean {
  return isIntegerIn(value, 0, INT32_MAX);
}

/**
 * assertUpdateState's rules as one boolean test that builds no label strings (a
 * saveUpdateState would otherwise build four nobody reads). Keep the two in step; a state
 * this rejects goes through the labelled checks for the message (validate-fast.test.ts
 * checks that they agree).
 */
export function isUpdateState(value: unknown): boolean {
  return isRecord(value) && isCounter(value.pts) && isCounter(value.qts) && isEpochSeconds(value.date) && isCounter(value.seq);
}

export function assertUpdateState(value: unknown, label = 'state'): asserts value is UpdateState {
  if (!isUpdateState(value)) explainUpdateState(value, label);
}

/** assertUpdateState's rules, one labelled check a field: throws for the first rule `value` breaks. */
export function explainUpdateState(value: unknown, label: string): asserts value is UpdateState {
  assertRecord(value, label);
  assertCounter(value.pts, `${label}.pts`);
  assertCounter(value.qts, `${label}.qts`);
  assertEpochSeconds(value.date, `${label}.date`);
  assertCounter(value.seq, `${label}.seq`);
}

/** A channel's rules (explainChannel) as a boolean, building no label strings. Keep the two in step. */
export function isChannel(value: unknown): value is ChannelState {
  return isRecord(value) && isInt64(value.id) && isCounter(value.pts);
}

/**
 * Lists up to this long are checked for a repeated id pairwise: a saveUpdateState carries
 * a few channels, and a Set hashes every bigint it is given (~250 instructions each).
 */
const PAIRWISE_CHANNELS = 16;

/** A channel's rules, one labelled check a field: throws for the first rule `value` breaks. */
export function explainChannel(value: unknown, label: string): asserts value is ChannelState {
  assertRecord(value, label);
  assertInt64(value.id, `${label}.id`);
  assertCounter(value.pts, `${label}.pts`);
}

/** The first i < end whose channel (list[0..end) all valid) has the id of one before it, or -1. */
function repeatedChannelAt(list: readonly unknown[], end: number): number {
  // Stryker disable next-line ConditionalExpression,EqualityOperator,BlockStatement: equivalent: the pairwise scan and the Set find the same first repeat, whichever runs (the bound picks the cheaper); each path's own mutants are killed (lists of 2, 16, 17 and 200 in validate-fast.test.ts)
  if (end <= PAIRWISE_CHANNELS) {
    for (let i = 1; i < end; i++) {
      const id = (list[i] as ChannelState).id;
      for (let j = 0; j < i; j++) if ((list[j] as ChannelState).id === id) return i;
    }
    return -1;
  }
  const seen = new Set<bigint>();
  for (let i = 0; i < end; i++) {
    const id = (list[i] as ChannelState).id;
    if (seen.has(id)) return i;
    seen.add(id);
  }
  return -1;
}

/** assertChannels' rules as a boolean, building no label strings. */
export function isChannels(value: unknown): value is readonly ChannelState[] {
  if (!Array.isArray(value)) return false;
  for (let i = 0; i < value.length; i++) if (!isChannel(value[i])) return false;
  return repeatedChannelAt(value, value.length) === -1;
}

/** A list of channel pts with no channel twice. */
export function assertChannels(value: unknown, label = 'channels'): asserts value is readonly ChannelState[] {
  // Labels are built only for a list that breaks a rule: a session may carry thousands
  // of channels, three labels each.
  if (!isChannels(value)) explainChannels(value, label);
}

/**
 * assertChannels' rules with labels: throws for the first channel that breaks one, as a
 * check of each channel in order (its fields, then its id against those before it) would.
 */
export function explainChannels(value: unknown, label: string): asserts value is readonly ChannelState[] {
  assertArray(value, label);
  let valid = 0;
  while (valid < value.length && isChannel(value[valid])) valid++;
  const repeated = repeatedChannelAt(value, valid);
  if (repeated !== -1) fail(`${label}[${repeated}].id`, 'unique in the list', (value[repeated] as ChannelState).id);
  if (valid < value.length) explainChannel(value[valid], `${label}[${valid}]`);
}

/** assertSession's rules as a boolean, building no label strings. */
export function isSession(value: unknown): value is Session {
  if (!isRecord(value) || value.version !== 1 || !isDcs(value.dcs, value.homeDcId)) return false;
  const { apiId, user, state, takeoutId } = value;
  return (
    (apiId === undefined || isIntegerIn(apiId, 1, INT32_MAX)) &&
    (user === undefined || isSelfUser(user)) &&
    (state === undefined || isUpdateState(state)) &&
    isChannels(value.channels) &&
    (takeoutId === undefined || isInt64(takeoutId))
  );
}

/**
 * Deep validation of a session snapshot given to `save`. DCs are unique by
 * (id, mediaOnly): one main and one media-only entry per DC id at most. The home
 * DC must be among them.
 */
export function assertSession(value: unknown, label = 'session'): asserts value is Session {
  if (!isSession(value)) explainSession(value, label);
}

/** A session's rules, one labelled check a field: throws for the first rule `value` breaks. */
export function explainSession(value: unknown, label: string): asserts value is Session {
  assertRecord(value, label);
  if (value.version !== 1) fail(`${label}.version`, '1', value.version);
  assertDcs(value.dcs, value.homeDcId, label);
  if (value.apiId !== undefined) assertIntegerIn(value.apiId, `${label}.apiId`, 1, INT32_MAX);
  if (value.user !== undefined) assertSelfUser(value.user, `${label}.user`);
  if (value.state !== undefined) assertUpdateState(value.state, `${label}.state`);
  assertChannels(value.channels, `${label}.channels`);
  if (value.takeoutId !== undefined) assertInt64(value.takeoutId, `${label}.takeoutId`);
}

/** Whether dcs[i] (a valid DC) has the id and media-only-ness of one before it. A handful of DCs: pairwise beats building string keys for a Set. */
function repeatsDc(dcs: readonly unknown[], i: number): boolean {
  const dc = dcs[i] as DataCenter;
  const media = dc.mediaOnly === true;
  for (let j = 0; j < i; j++) {
    const other = dcs[j] as DataCenter;
    if (other.id === dc.id && (other.mediaOnly === true) === media) return true;
  }
  return false;
}

/** assertDcs' rules as a boolean, building no label strings. */
export function isDcs(dcs: unknown, homeDcId: unknown): dcs is DataCenter[] {
  if (!isDcId(homeDcId) || !Array.isArray(dcs)) return false;
  let hasHome = false;
  for (let i = 0; i < dcs.length; i++) {
    const dc: unknown = dcs[i];
    if (!isDataCenter(dc) || repeatsDc(dcs, i)) return false;
    if (dc.id === homeDcId) hasHome = true;
  }
  return hasHome;
}

/** `homeDcId` and `dcs` of a session or patch: unique (id, mediaOnly) entries, the home DC among them. */
function assertDcs(dcs: unknown, homeDcId: unknown, label: string): asserts dcs is DataCenter[] {
  if (!isDcs(dcs, homeDcId)) explainDcs(dcs, homeDcId, label);
}

/** assertDcs' rules, one labelled check a field: throws for the first rule `dcs` or `homeDcId` breaks. */
export function explainDcs(dcs: unknown, homeDcId: unknown, label: string): asserts dcs is DataCenter[] {
  assertDcId(homeDcId, `${label}.homeDcId`);
  assertArray(dcs, `${label}.dcs`);
  let hasHome = false;
  for (let i = 0; i < dcs.length; i++) {
    const dc = dcs[i];
    assertDataCenter(dc, `${label}.dcs[${i}]`);
    if (dc.id === homeDcId) hasHome = true;
    if (repeatsDc(dcs, i)) fail(`${label}.dcs[${i}]`, `the only ${dc.mediaOnly ? 'media-only' : 'main'} entry for DC ${dc.id}`, dc.id);
  }
  if (!hasHome) fail(`${label}.homeDcId`, `the id of one of ${label}.dcs`, homeDcId);
}

const UPDATE_FIELDS: ReadonlySet<string> = new Set(['homeDcId', 'dcs', 'apiId', 'user', 'takeoutId', 'state', 'channels']);

/** Whether a DC of an update() patch carries key bytes (update() takes addresses only). */
function carriesKeys(dc: DataCenter): boolean {
  return dc.authKey !== undefined || dc.tempAuthKeys !== undefined;
}

/** assertSessionUpdate's rules as a boolean, building no label strings (a patch of the update state and channels would otherwise build a label a field). */
export function isSessionUpdate(value: unknown): value is SessionUpdate {
  if (!isRecord(value)) return false;
  const fields = Object.keys(value);
  let given = 0;
  for (let i = 0; i < fields.length; i++) {
    const field = fields[i] as string;
    if (value[field] === undefined) continue;
    if (!UPDATE_FIELDS.has(field)) return false;
    given++;
  }
  if (given === 0) return false;
  const { homeDcId, dcs, apiId, user, takeoutId, state, channels } = value;
  if ((homeDcId === undefined) !== (dcs === undefined)) return false;
  if (dcs !== undefined) {
    if (!isDcs(dcs, homeDcId)) return false;
    for (let i = 0; i < dcs.length; i++) if (carriesKeys(dcs[i] as DataCenter)) return false;
  }
  return (
    (apiId === undefined || apiId === null || isIntegerIn(apiId, 1, INT32_MAX)) &&
    (user === undefined || user === null || isSelfUser(user)) &&
    (takeoutId === undefined || takeoutId === null || isInt64(takeoutId)) &&
    (state === undefined || state === null || isUpdateState(state)) &&
    (channels === undefined || isChannels(channels))
  );
}

/**
 * A `Storage.update` patch: at least one known field; `homeDcId` and `dcs` together,
 * the home DC among the entries, entries unique by (id, mediaOnly) and without keys.
 */
export function assertSessionUpdate(value: unknown, label = 'patch'): asserts value is SessionUpdate {
  if (!isSessionUpdate(value)) explainSessionUpdate(value, label);
}

/** A patch's rules, one labelled check a field: throws for the first rule `value` breaks. */
export function explainSessionUpdate(value: unknown, label: string): asserts value is SessionUpdate {
  assertRecord(value, label);
  const fields = Object.keys(value).filter((k) => value[k] !== undefined);
  if (fields.length === 0) fail(label, 'a patch with at least one field', value);
  for (const field of fields) if (!UPDATE_FIELDS.has(field)) fail(`${label}.${field}`, 'absent (not a field update() can change)', value[field]);
  if ((value.homeDcId === undefined) !== (value.dcs === undefined)) {
    fail(`${label}.${value.dcs === undefined ? 'dcs' : 'homeDcId'}`, 'given together with homeDcId and dcs', undefined);
  }
  if (value.dcs !== undefined) {
    assertDcs(value.dcs, value.homeDcId, label);
    (value.dcs as DataCenter[]).forEach((dc, i) => {
      if (carriesKeys(dc)) {
        // Said plainly, without describing the value: it holds key bytes.
        const carries = dc.authKey !== undefined ? (dc.tempAuthKeys !== undefined ? 'authKey and tempAuthKeys' : 'authKey') : 'tempAuthKeys';
        throw new InvalidArgumentError(
          `${label}.dcs[${i}] carries ${carries}: update() takes DC addresses only (id, ipv4, ipv6, port, mediaOnly); write keys through authKeys.set / authKeys.setTemp, or save() the whole session`,
        );
      }
    });
  }
  if (value.apiId !== undefined && value.apiId !== null) assertIntegerIn(value.apiId, `${label}.apiId`, 1, INT32_MAX);
  if (value.user !== undefined && value.user !== null) assertSelfUser(value.user, `${label}.user`);
  if (value.takeoutId !== undefined && value.takeoutId !== null) assertInt64(value.takeoutId, `${label}.takeoutId`);
  if (value.state !== undefined && value.state !== null) assertUpdateState(value.state, `${label}.state`);
  if (value.channels !== undefined) assertChannels(value.channels, `${label}.channels`);
}

export function assertPeer(value: unknown, label: string): asserts value is Peer {
  assertRecord(value, label);
  assertPeerType(value.type, `${label}.type`);
  assertInt64(value.id, `${label}.id`);
  assertInt64(value.accessHash, `${label}.accessHash`);
  assertUsernames(value.usernames, `${label}.usernames`);
  if (value.phone !== undefined) assertPhone(value.phone, `${label}.phone`);
  assertOptionalBoolean(value.min, `${label}.min`);
  assertEpochSeconds(value.updatedAt, `${label}.updatedAt`);
  const name = value.displayName;
  if (name !== undefined && (typeof name !== 'string' || name.length > MAX_DISPLAY_NAME || !isStorableText(name))) {
    fail(`${label}.displayName`, `a string of at most ${MAX_DISPLAY_NAME} characters, without U+0000 or an unpaired surrogate`, name);
  }
  const complete = value.complete;
  if (complete !== undefined && !isCompleteBytes(complete)) {
    fail(`${label}.complete`, `a Uint8Array of at most ${MAX_COMPLETE_BYTES} bytes`, complete);
  }
}

/** A peer's `complete`: a real Uint8Array (bytesLength) of at most MAX_COMPLETE_BYTES. */
function isCompleteBytes(value: unknown): boolean {
  const length = bytesLength(value);
  return length >= 0 && length <= MAX_COMPLETE_BYTES;
}

/**
 * assertPeer's rules as one boolean test that builds no label strings: a batch of
 * 1,000 peers would otherwise build ~10,000 labels nobody reads. Keep the two in step;
 * a peer this rejects is passed to assertPeer for the message.
 */
export function isPeer(value: unknown): boolean {
  if (!isRecord(value)) return false;
  const { type, id, accessHash, usernames, phone, min, updatedAt, displayName, complete } = value;
  if (type !== 'user' && type !== 'chat' && type !== 'channel') return false;
  if (typeof id !== 'bigint' || id < INT64_MIN || id > INT64_MAX) return false;
  if (typeof accessHash !== 'bigint' || accessHash < INT64_MIN || accessHash > INT64_MAX) return false;
  if (!Array.isArray(usernames)) return false;
  const names = peerHashes.names;
  for (let i = 0; i < usernames.length; i++) {
    const username: unknown = usernames[i];
    const hash = usernameHash(username);
    if (hash === -1) return false;
    // Not repeatsUsername: with it a peer cost the same at 0-2 names and 20-30 Ir more at 3 (~0.5%; node bench/validate-icount.mjs --report peers).
    for (let j = 0; j < i; j++) if ((usernames[j] as string).toLowerCase() === (username as string).toLowerCase()) return false;
    names[i] = hash;
  }
  let phoneKey = -1;
  if (phone !== undefined && (phoneKey = phoneHash(phone)) === -1) return false;
  if (min !== undefined && typeof min !== 'boolean') return false;
  if (typeof updatedAt !== 'number' || !Number.isInteger(updatedAt) || updatedAt < 0 || updatedAt > UINT32_MAX) return false;
  if (displayName !== undefined && (typeof displayName !== 'string' || displayName.length > MAX_DISPLAY_NAME || !isStorableText(displayName))) return false;
  if (complete !== undefined && !isCompleteBytes(complete)) return false;
  peerHashes.phone = phoneKey;
  return true;
}

/** String.prototype.isWellFormed (Node 20; past this project's ES2022 lib). */
type WellFormedString = string & { isWellFormed(): boolean };

/**
 * Whether every adapter stores `text` exactly: no U+0000 (PostgreSQL text and C-string
 * drivers cannot hold it; Telegram never sends it) and no unpaired surrogate (UTF-8
 * has no encoding for one: PostgreSQL, Redis, MongoDB and MySQL read back U+FFFD,
 * SQLite three of them, memory the original). Past 8 code units, two native scans
 * (indexOf, isWellFormed: the same rule); a loop up to there, where it is cheaper than the
 * two calls (callgrind, a call in a loop: 3 units 123 against 204 instructions, 10 units
 * 319 against 218, 30 units 1,400 against 229). In the loop only code units from U+D800
 * take the slower branch.
 */
export function isStorableText(text: string): boolean {
  const length = text.length;
  if (length > 8) return text.indexOf('\0') === -1 && (text as WellFormedString).isWellFormed();
  for (let i = 0; i < length; i++) {
    const code = text.charCodeAt(i);
    if (code < 0xd800) {
      if (code === 0) return false;
    } else if (code <= 0xdbff) {
      // A high surrogate: a low one must follow, and it is skipped.
      const next = i + 1 < length ? text.charCodeAt(i + 1) : 0;
      if (next < 0xdc00 || next > 0xdfff) return false;
      i++;
    } else if (code <= 0xdfff) return false; // a low surrogate without a high one before it
  }
  return true;
}

/**
 * `text` as every adapter can store it (isStorableText) in at most `max` code units: U+0000
 * and unpaired surrogates left out, then cut before `max` without splitting a pair. For
 * bridges building display names from what a client library decoded: one bad name must
 * not fail the whole batch it is in. Returns `text` itself when it already fits.
 */
export function storableText(text: string, max: number): string {
  let kept = text;
  if (!isStorableText(text)) {
    kept = '';
    let from = 0;
    const length = text.length;
    for (let i = 0; i < length; i++) {
      const code = text.charCodeAt(i);
      let drop = code === 0;
      if (code >= 0xd800 && code <= 0xdbff) {
        const next = i + 1 < length ? text.charCodeAt(i + 1) : 0;
        if (next >= 0xdc00 && next <= 0xdfff) {
          i++; // a pair: kept whole
          continue;
        }
        drop = true;
      } else if (code >= 0xdc00 && code <= 0xdfff) drop = true; // a low surrogate without its high one
      if (!drop) continue;
      kept += text.slice(from, i);
      from = i + 1;
    }
    kept += text.slice(from);
  }
  if (kept.length <= max) return kept;
  const last = kept.charCodeAt(max - 1);
  return kept.slice(0, last >= 0xd800 && last <= 0xdbff ? max - 1 : max);
}

/** A whole batch is checked before any of it is written. */
export function assertPeers(value: unknown, label = 'peers'): asserts value is readonly Peer[] {
  assertArray(value, label);
  for (let i = 0; i < value.length; i++) if (!isPeer(value[i])) assertPeer(value[i], `${label}[${i}]`);
}

const SESSION_NAME = /^[A-Za-z0-9_.:@+=-]{1,128}$/;

/**
 * Names of client sessions: 1-128 characters from `A-Z a-z 0-9 _ . : @ + = -`.
 * No braces, slashes or spaces, so a name can sit in a Redis hash tag or a file
 * name without escaping.
 */
export function assertSessionName(value: unknown, label = 'name'): asserts value is string {
  if (typeof value !== 'string' || !SESSION_NAME.test(value)) {
    fail(label, 'a session name of 1-128 characters from A-Z a-z 0-9 _ . : @ + = -', value);
  }
}

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]{0,47}$/;

/**
 * SQL identifiers we interpolate (schema names, table prefixes) and Mongo collection
 * prefixes: a letter or underscore, then letters, digits or underscores, at most 48.
 * Values are always bound as parameters; only names pass through here.
 */
export function assertIdentifier(value: unknown, label: string, options: { allowEmpty?: boolean | undefined } = {}): asserts value is string {
  if (options.allowEmpty === true && value === '') return;
  if (typeof value !== 'string' || !IDENTIFIER.test(value)) {
    fail(label, 'an identifier of 1-48 letters, digits or underscores, not starting with a digit', value);
  }
}

const KEY_PREFIX = /^[A-Za-z0-9_.:-]{0,64}$/;

/** Redis key prefixes: up to 64 of `A-Z a-z 0-9 _ . : -` (no braces: they would break hash tags). */
export function assertKeyPrefix(value: unknown, label: string): asserts value is string {
  if (typeof value !== 'string' || !KEY_PREFIX.test(value)) {
    fail(label, 'a key prefix of up to 64 characters from A-Z a-z 0-9 _ . : -', value);
  }
}

export function assertSessionEvent(value: unknown, label = 'event'): asserts value is SessionEvent {
  assertRecord(value, label);
  if (value.type !== 'created' && value.type !== 'destroyed') fail(`${label}.type`, "'created' or 'destroyed'", value.type);
  assertInt64(value.authKeyId, `${label}.authKeyId`);
  assertInt64(value.sessionId, `${label}.sessionId`);
  if (typeof value.origin !== 'string' || value.origin.length === 0 || value.origin.length > 200) {
    fail(`${label}.origin`, 'a non-empty string of at most 200 characters', value.origin);
  }
  if (value.reason !== undefined && (value.type !== 'destroyed' || (value.reason !== 'explicit' && value.reason !== 'expired'))) {
    fail(`${label}.reason`, "absent, or 'explicit' or 'expired' on a destroyed event", value.reason);
  }
}
