/**
 * Auth keys (and secret kv values) sealed at rest with AES-256-GCM from Node's own
 * crypto. The base class seals every key on write and opens it on read, so an
 * adapter only ever stores opaque bytes; see docs/contract.md "Encryption at rest".
 *
 * A sealed value is
 *
 *   "mtseal" (6 bytes) · version 0x01 · key id length n (1 byte) · key id (n ASCII bytes)
 *   · nonce (12 random bytes) · ciphertext (as long as the plaintext) · GCM tag (16 bytes)
 *
 * and the associated data is that header (everything before the ciphertext) followed
 * by where the value belongs — session name, DC id, main/media entry, slot and kind
 * for a key; session name and kv key for a kv value — so a sealed value copied to
 * another session, DC, entry, slot or kv key does not open there. A plaintext auth key
 * is exactly 256 bytes and a sealed one at least 293, so the two never mix up.
 */
import { createCipheriv, createDecipheriv, createSecretKey, randomBytes, randomFillSync, type KeyObject } from 'node:crypto';
import { CorruptDataError, EncryptionError, InvalidArgumentError } from './errors.js';
import { describeSecret, MAX_DC_ID, nearestName } from './validate.js';
import type { DataCenter } from './model.js';
import { AuthKeyBytes } from './stored.js';

/** One configured encryption key: 32 bytes given directly, or read from an environment variable. */
export type EncryptionKey =
  | {
      /** Stored beside every value it seals: 1-32 of `A-Z a-z 0-9 . _ -`. */
      id: string;
      /** 32 bytes, or a string of 64 hex digits or of base64 / base64url text for 32 bytes. */
      key: Uint8Array | string;
    }
  | {
      id: string;
      /** Name of an environment variable holding the key as 64 hex digits or base64 / base64url text. */
      env: string;
    };

export interface EncryptionOptions {
  /**
   * The keys, newest first: writes seal with the first one, reads open with whichever
   * one the stored value names. Keep a retired key here until `rotateEncryption` (or
   * `mtstore rotate-keys`) has re-sealed everything it sealed.
   */
  keys: readonly EncryptionKey[];
  /**
   * kv keys whose values are sealed too, by prefix (`''` seals every kv value). A
   * bridge marks single entries with `kv.set(key, value, { secret: true })`. Values
   * written sealed are opened on read whatever this list says.
   */
  secretKvPrefixes?: readonly string[] | undefined;
}

/** Where a sealed value belongs: bound into its associated data. */
export type SealContext =
  | { readonly kind: 'authKey' | 'tempAuthKey'; readonly dcId: number; readonly mediaOnly: boolean; readonly slot: number }
  | { readonly kind: 'kv'; readonly key: string };

const MAGIC = Uint8Array.from([0x6d, 0x74, 0x73, 0x65, 0x61, 0x6c]); // "mtseal"
/** MAGIC[0] ('m') as a literal: isSealed's first test. */
const MAGIC_FIRST = 0x6d;
const VERSION = 1;
const NONCE_LENGTH = 12;
const TAG_LENGTH = 16;
const KEY_LENGTH = 32;
const KEY_ID = /^[A-Za-z0-9._-]{1,32}$/;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/;
/** Magic, version and id length: the fixed part before the key id. */
const FIXED_HEADER = MAGIC.length + 2;
/** Values remembered per storage instance (see Sealer.#known): a session holds a handful of keys. */
const KNOWN_LIMIT = 256;
/** The slot of a permanent auth key in a key's place (a temp key's slot is its index, ≥ 0). */
export const PERMANENT_KEY_SLOT = -1;

/**
 * Nonces come from a pool filled by one randomFillSync call: drawing 12 random bytes
 * through randomBytes() costs about as much as the encryption itself. Every nonce is
 * still fresh random bytes, handed out once.
 */
const noncePool = Buffer.alloc(NONCE_LENGTH * 256);
let nonceOffset = noncePool.length;
function freshNonce(target: Buffer, offset: number): void {
  if (nonceOffset + NONCE_LENGTH > noncePool.length) {
    randomFillSync(noncePool);
    nonceOffset = 0;
  }
  noncePool.copy(target, offset, nonceOffset, nonceOffset + NONCE_LENGTH);
  noncePool.fill(0, nonceOffset, nonceOffset + NONCE_LENGTH);
  nonceOffset += NONCE_LENGTH;
}

/** True when `bytes` starts like a sealed value (the magic and a known version). */
export function isSealed(bytes: Uint8Array): boolean {
  // The first magic byte as a literal, tested before anything else: kv.get runs this on
  // every plaintext value, and a constant compare rejects nearly all of them at once where
  // the length check and a load from MAGIC cost more (memory kv.get at c=64, adapter
  // without compiler/GC: ~2,235 -> ~2,183 Ir/op; see the commit that added this line).
  if (bytes[0] !== MAGIC_FIRST) return false;
  if (bytes.length < FIXED_HEADER + 1 + NONCE_LENGTH + TAG_LENGTH) return false;
  for (let i = 0; i < MAGIC.length; i++) if (bytes[i] !== MAGIC[i]) return false;
  return bytes[MAGIC.length] === VERSION;
}

/**
 * The version byte of an escaped plain kv value: "mtseal" · 0x00 · the value. A storage
 * without encryption writes a kv value that starts with "mtseal" in this form (one with
 * encryption seals it), so no plain value is ever stored looking sealed; every read
 * path (with or without encryption) gives back what follows the 7 bytes. Only kv values
 * are escaped: an auth key is told apart by its length (256 bytes plain).
 */
const ESCAPE_VERSION = 0x00;

/** True when a plain kv value must not be stored as it is: it starts with "mtseal" (any version byte, or none). */
export function startsLikeSealed(bytes: Uint8Array): boolean {
  if (bytes[0] !== MAGIC_FIRST || bytes.length < MAGIC.length) return false;
  for (let i = 1; i < MAGIC.length; i++) if (bytes[i] !== MAGIC[i]) return false;
  return true;
}

/** True when `bytes` is an escaped plain kv value (see ESCAPE_VERSION). */
export function isEscaped(bytes: Uint8Array): boolean {
  return bytes[0] === MAGIC_FIRST && bytes.length > MAGIC.length && bytes[MAGIC.length] === ESCAPE_VERSION && startsLikeSealed(bytes);
}

/** The stored (escaped) form of a plain kv value that starts with "mtseal": a fresh buffer. */
export function escapeKv(plain: Uint8Array): Uint8Array {
  const out = new Uint8Array(MAGIC.length + 1 + plain.length);
  out.set(MAGIC, 0);
  out[MAGIC.length] = ESCAPE_VERSION;
  out.set(plain, MAGIC.length + 1);
  return out;
}

/** The plain value of an escaped one (isEscaped): a fresh copy. */
export function unescapeKv(stored: Uint8Array): Uint8Array {
  // Not stored.slice: on a Buffer (some drivers return them) that is a view, not a copy.
  return new Uint8Array(stored.subarray(MAGIC.length + 1));
}

interface Header {
  keyId: string;
  /** Where the ciphertext starts: the header is bytes[0, body). */
  body: number;
}

function parseHeader(bytes: Uint8Array, where: string): Header {
  const idLength = bytes[MAGIC.length + 1] as number;
  const body = FIXED_HEADER + idLength + NONCE_LENGTH;
  const keyId = Buffer.from(bytes.buffer, bytes.byteOffset + FIXED_HEADER, Math.min(idLength, Math.max(0, bytes.length - FIXED_HEADER))).toString('latin1');
  if (idLength === 0 || bytes.length < body + TAG_LENGTH || !KEY_ID.test(keyId)) {
    throw new CorruptDataError(`${where} starts like a sealed value but its header is malformed (${bytes.length} bytes)`);
  }
  return { keyId, body };
}

/** The id of the key a sealed value needs, or undefined when `bytes` is not sealed. Never throws. */
export function sealedKeyId(bytes: Uint8Array): string | undefined {
  if (!isSealed(bytes)) return undefined;
  try {
    return parseHeader(bytes, 'value').keyId;
  } catch {
    return undefined;
  }
}

/** The error for a sealed value read by a storage configured without encryption. */
export function noEncryptionError(bytes: Uint8Array, what: string): Error {
  const keyId = sealedKeyId(bytes);
  if (keyId === undefined) return new CorruptDataError(`${what} starts like a sealed value but its header is malformed (${bytes.length} bytes)`);
  return new EncryptionError(
    `${what} is sealed with encryption key ${JSON.stringify(keyId)}, but this storage has no encryption configured: pass encryption: { keys: [{ id: ${JSON.stringify(keyId)}, ... }] }`,
    keyId,
    'missing-key',
  );
}

/** The 32 key bytes that 64 hex digits or base64 / base64url text stand for, or undefined. */
function keyFromText(value: string): Buffer | undefined {
  const text = value.trim();
  let bytes: Buffer | undefined;
  if (/^[0-9a-fA-F]{64}$/.test(text)) bytes = Buffer.from(text, 'hex');
  else if (/^[A-Za-z0-9+/_-]{43}={0,1}$/.test(text)) bytes = Buffer.from(text.replace(/-/g, '+').replace(/_/g, '/'), 'base64');
  return bytes?.length === KEY_LENGTH ? bytes : undefined;
}

function decodeKeyMaterial(value: unknown, label: string): Uint8Array {
  if (value instanceof Uint8Array) {
    if (value.length !== KEY_LENGTH) {
      // A key file read without an encoding is its text as bytes: say so (never what it holds).
      const decoded = value.length <= 80 ? keyFromText(Buffer.from(value.buffer, value.byteOffset, value.length).toString('latin1')) : undefined;
      const hint = decoded === undefined ? '' : ": those bytes are hex or base64 text of a key (a key file read as bytes?): pass it as a string, e.g. readFileSync(path, 'utf8')";
      decoded?.fill(0);
      throw new InvalidArgumentError(`${label} must be ${KEY_LENGTH} bytes, got ${describeSecret(value)}${hint}`);
    }
    return Uint8Array.from(value);
  }
  if (typeof value === 'string') {
    const bytes = keyFromText(value);
    if (bytes !== undefined) return bytes;
    throw new InvalidArgumentError(`${label} must be ${KEY_LENGTH} bytes as 64 hex digits or base64 text, got ${describeSecret(value)}`);
  }
  throw new InvalidArgumentError(`${label} must be ${KEY_LENGTH} bytes (a Uint8Array, hex or base64 text), got ${describeSecret(value)}`);
}

/** A value this instance sealed or opened, with its plaintext (see Sealer.#known). */
interface Known {
  readonly keyId: string;
  readonly sealed: Buffer;
  readonly plain: Buffer;
}

/**
 * The keys of the last session this instance sealed whole (Sealer.sealKeys) or opened
 * whole with every key under the write key (Sealer.openKeys), one after another: `where`
 * as passed (DC id, media-only 0/1, slot per key), the plaintexts and the sealed values
 * each in one buffer of its own, with where each value ends. It answers a whole session
 * with one comparison instead of one per key.
 */
interface SessionMemory {
  readonly where: readonly number[];
  readonly plain: Buffer;
  readonly plainEnds: readonly number[];
  readonly sealed: Buffer;
  readonly sealedEnds: readonly number[];
}

interface ResolvedKey {
  readonly id: string;
  readonly idBytes: Buffer;
  readonly key: KeyObject;
}

/** Every field of EncryptionOptions: any other is a typo, refused. */
const ENCRYPTION_OPTIONS: readonly string[] = ['keys', 'secretKvPrefixes'];

/**
 * Seals and opens values with the configured keys. Built once per storage from its
 * options (environment variables are read then); holds the key material only as
 * KeyObjects, which `util.inspect` does not print.
 */
export class Sealer {
  readonly #keys: ReadonlyMap<string, ResolvedKey>;
  readonly #writer: ResolvedKey;
  readonly #secretPrefixes: readonly string[];
  readonly #name: Buffer;
  /**
   * The last sealed value seen at each place (context) with its plaintext: reading
   * back exactly those bytes needs no decryption (GCM authenticated them when they
   * were opened or made). Holds only what this instance already handed out or was given.
   */
  readonly #known = new Map<string, Known>();
  /**
   * The same for auth keys at a valid DC id, found without building the place string
   * (a save or load looks up every key of the session): entry number (see entryNumber)
   * → slot → value. A key at any other DC id goes to #known, by place string.
   */
  readonly #knownKeys = new Map<number, Map<number, Known>>();
  #knownCount = 0;
  /**
   * The last session's keys, all at once (see SessionMemory). Every value in it is the
   * one #knownKeys holds at its place (#rememberSession checks), and it is dropped
   * whenever a key's place remembers another value (#remember): so it answers exactly
   * what the per-place lookups would, never with a value its place has since replaced.
   */
  #session: SessionMemory | undefined;
  /**
   * Where a save (plaintexts) or a load (sealed values) copies a session's incoming values
   * to compare them with #session at once: one each, as the two differ in length and a
   * save after a load would otherwise allocate anew every time.
   */
  #plainScratch = Buffer.alloc(0);
  #sealedScratch = Buffer.alloc(0);

  constructor(options: EncryptionOptions, sessionName: string, where: string) {
    // describeSecret wherever a key given in the wrong place could be the value described.
    if (typeof options !== 'object' || options === null) throw new InvalidArgumentError(`${where}: encryption must be an object, got ${describeSecret(options)}`);
    // A misspelt option (secretKvPrefix) would leave the values it names in plaintext with no sign of it.
    for (const option of Object.keys(options)) {
      if (ENCRYPTION_OPTIONS.includes(option)) continue;
      const guess = nearestName(option, ENCRYPTION_OPTIONS);
      // A name that could be key text pasted in the wrong place is not echoed.
      const shown = /^[A-Za-z_$][\w$]{0,31}$/.test(option) && !/^[0-9A-Fa-f]{16,}$/.test(option) ? `"${option}"` : `(${option.length} chars, not shown)`;
      throw new InvalidArgumentError(`${where}: encryption has an unknown option ${shown}${guess === undefined ? '' : ` (did you mean "${guess}"?)`}; it takes ${ENCRYPTION_OPTIONS.join(', ')}`);
    }
    if (!Array.isArray(options.keys) || options.keys.length === 0) {
      throw new InvalidArgumentError(`${where}: encryption.keys must be a non-empty array (the first key seals, every key opens)`);
    }
    const keys = new Map<string, ResolvedKey>();
    options.keys.forEach((entry: unknown, i) => {
      const label = `${where}: encryption.keys[${i}]`;
      if (typeof entry !== 'object' || entry === null) throw new InvalidArgumentError(`${label} must be { id, key } or { id, env }, got ${describeSecret(entry)}`);
      const { id, key, env } = entry as { id?: unknown; key?: unknown; env?: unknown };
      if (typeof id !== 'string' || !KEY_ID.test(id)) throw new InvalidArgumentError(`${label}.id must be 1-32 of A-Z a-z 0-9 . _ -, got ${describeSecret(id)}`);
      if (keys.has(id)) throw new InvalidArgumentError(`${label}.id ${JSON.stringify(id)} is configured twice`);
      let material: Uint8Array;
      if (env !== undefined) {
        if (key !== undefined) throw new InvalidArgumentError(`${label} must have key or env, not both`);
        if (typeof env !== 'string' || !ENV_NAME.test(env)) throw new InvalidArgumentError(`${label}.env must be an environment variable name, got ${describeSecret(env)}`);
        const text = process.env[env];
        if (text === undefined || text === '') {
          // A hex key passes for a variable name: one that may be a key itself is not echoed.
          const named = env.length <= 32 || (/^[A-Z0-9_]+$/.test(env) && !/^[0-9A-F]+$/.test(env)) ? env : `named in .env (${env.length} chars, not shown: is it the key itself?)`;
          throw new InvalidArgumentError(`${label}: environment variable ${named} (key ${JSON.stringify(id)}) is not set`);
        }
        material = decodeKeyMaterial(text, `${label}: environment variable ${env}`);
      } else {
        material = decodeKeyMaterial(key, `${label}.key`);
      }
      keys.set(id, { id, idBytes: Buffer.from(id, 'latin1'), key: createSecretKey(material) });
      material.fill(0);
    });
    // Left out is none; null is refused as for every option (docs/contract.md §8), not read as left out.
    const prefixes = options.secretKvPrefixes === undefined ? [] : options.secretKvPrefixes;
    if (!Array.isArray(prefixes) || prefixes.some((p: unknown) => typeof p !== 'string' || p.length > 255)) {
      throw new InvalidArgumentError(`${where}: encryption.secretKvPrefixes must be an array of kv key prefixes`);
    }
    this.#keys = keys;
    this.#writer = keys.get((options.keys[0] as { id: string }).id) as ResolvedKey;
    this.#secretPrefixes = [...prefixes];
    this.#name = Buffer.from(sessionName, 'utf8');
  }

  /** The id of the key writes use. */
  get writeKeyId(): string {
    return this.#writer.id;
  }

  /** Every configured key id, the write key first. */
  get keyIds(): string[] {
    return [...this.#keys.keys()];
  }

  /** True when kv values under `key` are sealed by configuration. */
  isSecretKv(key: string): boolean {
    for (const prefix of this.#secretPrefixes) if (key.startsWith(prefix)) return true;
    return false;
  }

  /** What this instance last sealed or opened at `context`. */
  #recall(context: SealContext): Known | undefined {
    if (context.kind === 'kv') return this.#known.get(placeOf(context));
    const entry = entryNumber(context);
    return entry === undefined ? this.#known.get(placeOf(context)) : this.#knownKeys.get(entry)?.get(context.slot);
  }

  #remember(context: SealContext, place: string, known: Known): void {
    const entry = context.kind === 'kv' ? undefined : entryNumber(context);
    if (this.#knownCount >= KNOWN_LIMIT && this.#recall(context) === undefined) {
      this.#known.clear();
      this.#knownKeys.clear();
      this.#knownCount = 0;
      this.#session = undefined;
    }
    // A key's place changes value: the session memory would answer with the old one.
    if (context.kind !== 'kv') this.#session = undefined;
    let size: number;
    if (entry === undefined) {
      size = this.#known.size;
      this.#known.set(place, known);
      this.#knownCount += this.#known.size - size;
      return;
    }
    let slots = this.#knownKeys.get(entry);
    if (slots === undefined) this.#knownKeys.set(entry, (slots = new Map()));
    size = slots.size;
    slots.set((context as { slot: number }).slot, known);
    this.#knownCount += slots.size - size;
  }

  #context(header: Uint8Array, place: string): Buffer {
    // The name is length-prefixed, and a place holds no NUL inside its fields: no two contexts encode alike.
    const placeBytes = Buffer.from(place, 'utf8');
    const aad = Buffer.allocUnsafe(header.length + 4 + this.#name.length + placeBytes.length);
    aad.set(header, 0);
    aad.writeUInt32BE(this.#name.length, header.length);
    this.#name.copy(aad, header.length + 4);
    placeBytes.copy(aad, header.length + 4 + this.#name.length);
    return aad;
  }

  /**
   * Seals `plain` with the first key for `context`: a fresh random nonce for every new
   * value. The one exception: writing back, to the same place, exactly the value this
   * instance last sealed or opened there under the current write key returns those
   * sealed bytes again. Same key, nonce, associated data and plaintext give the same
   * ciphertext, so GCM's nonce rule holds; a database reader learns only that the value
   * did not change. That keeps `save()` of a session whose keys did not change (most
   * saves) from paying AES-GCM setup per key.
   */
  seal(plain: Uint8Array, context: SealContext): Uint8Array {
    return copiesOf([this.#seal(plain, context).sealed])[0] as Uint8Array;
  }

  /**
   * `seal` for a session's keys at once: `plains[i]` belongs at DC id `where[3i]`,
   * media-only entry when `where[3i + 1]` is 1, slot `where[3i + 2]` (PERMANENT_KEY_SLOT
   * for the permanent key). The results are views of one fresh buffer, one allocation
   * instead of one per value (a buffer over 64 bytes costs V8 an off-heap allocation,
   * more than comparing or copying it). A save tries resealSession first: this is the
   * path for keys that are not exactly the last session's.
   */
  sealKeys(plains: readonly Uint8Array[], where: readonly number[]): Uint8Array[] {
    const known = plains.map((plain, i) => this.#seal(plain, keyContext(where, i)));
    this.#rememberSession(where, known);
    return copiesOf(known.map((k) => k.sealed));
  }

  /**
   * Save's path for a session whose keys are those of the last session this instance
   * sealed (#session), at the same places: `dcs` (a call-time copy, validated, its keys
   * still the caller's plaintexts) gets the same sealed bytes sealKeys would return, as
   * views of one fresh buffer, and true is returned. False, with `dcs` untouched, for
   * anything else. It costs one place check and one copy per key and one comparison in
   * all, with no arrays built, which a save of an unchanged session (most saves) is.
   */
  resealSession(dcs: readonly DataCenter[]): boolean {
    const memory = this.#session;
    // A save records a session sealed by #seal (the write key only), a load one only
    // when each of its keys is sealed with the write key (openKeys): a remembered session
    // is always one a save may reuse.
    if (memory === undefined) return false;
    if (memory.plain.length !== this.#plainScratch.length) this.#plainScratch = Buffer.from(new ArrayBuffer(memory.plain.length));
    if (!sameKeys(dcs, memory.plain, memory.plainEnds, memory.where, this.#plainScratch)) return false;
    placeKeys(dcs, memory.sealed, memory.sealedEnds, Uint8Array);
    return true;
  }

  /** The value sealed for `context`, this instance's own (remembered): callers copy it out. */
  #seal(plain: Uint8Array, context: SealContext): Known {
    const writer = this.#writer;
    const known = this.#recall(context);
    if (known !== undefined && known.keyId === writer.id && known.plain.equals(plain)) return known;
    const place = placeOf(context);
    const body = FIXED_HEADER + writer.idBytes.length + NONCE_LENGTH;
    // Not from Node's shared pool: this buffer is remembered, so it must be its own memory.
    const out = Buffer.from(new ArrayBuffer(body + plain.length + TAG_LENGTH));
    out.set(MAGIC, 0);
    out[MAGIC.length] = VERSION;
    out[MAGIC.length + 1] = writer.idBytes.length;
    writer.idBytes.copy(out, FIXED_HEADER);
    freshNonce(out, body - NONCE_LENGTH);
    const header = out.subarray(0, body);
    const cipher = createCipheriv('aes-256-gcm', writer.key, out.subarray(body - NONCE_LENGTH, body), { authTagLength: TAG_LENGTH });
    cipher.setAAD(this.#context(header, place));
    let offset = body + cipher.update(plain).copy(out, body);
    offset += cipher.final().copy(out, offset);
    cipher.getAuthTag().copy(out, offset);
    const made: Known = { keyId: writer.id, sealed: out, plain: ownCopy(plain) };
    this.#remember(context, place, made);
    return made;
  }

  /**
   * Opens a sealed value for `context`. EncryptionError when its key is not
   * configured or it does not open (wrong key, moved, tampered); CorruptDataError
   * when the header is malformed. `what` names the value in messages.
   */
  open(sealed: Uint8Array, context: SealContext, what: string): Uint8Array {
    return copiesOf([this.#open(sealed, context, () => what).plain])[0] as Uint8Array;
  }

  /**
   * `open` for a session's auth keys at once (load): `sealed[i]` is at `where`'s i-th place,
   * as in sealKeys. The plaintexts are AuthKeyBytes views of one fresh buffer, made for
   * this call, so load keeps them without another copy. A load tries reopenSession
   * first: this is the path for values that are not exactly the remembered session's.
   */
  openKeys(sealed: readonly Uint8Array[], where: readonly number[], what: (index: number) => string): AuthKeyBytes[] {
    const known: Known[] = [];
    let current = true;
    for (let i = 0; i < sealed.length; i++) {
      const opened = this.#open(sealed[i] as Uint8Array, keyContext(where, i), () => what(i));
      if (opened.keyId !== this.#writer.id) current = false;
      known.push(opened);
    }
    // A session another instance (another process) saved is remembered too, so this
    // instance's next loads of it, and a save of it unchanged, take the one-comparison
    // paths instead of going key by key until this instance saves it. Only when every
    // key is sealed with the write key: resealSession hands a remembered session's sealed
    // bytes to a save as they are, and a key under an older (rotation) key must be sealed
    // again with the write key (#seal does, key by key). The memory is checked against
    // what each place remembers (#rememberSession), as after a save. A memory load of
    // another instance's session: 49.9k-51.6k → 42.6k-44.8k instructions per call, as
    // much as a load of its own (raw 41.1k-41.9k; callgrind, two runs each of
    // `node bench/icount.mjs --report 'memory:load sealed other' 1`, 3 Dec 2026).
    if (current) this.#rememberSession(where, known);
    return copiesOf(known.map((k) => k.plain), AuthKeyBytes);
  }

  /**
   * Load's path for a session an adapter read whose keys are, DC by DC and place for
   * place, exactly the sealed values of the session this instance remembers (#session:
   * the last it saved, or loaded with every key under the write key), and no other keys: puts fresh AuthKeyBytes copies of that session's plaintexts (views
   * of one new buffer) in their place in `dcs` and returns them, which is what opening
   * each would have given. Undefined, with `dcs` untouched, for anything else (a changed,
   * moved or plaintext key, another DC layout, a malformed entry): the caller then opens
   * key by key. One place check and one copy per key and one comparison in all.
   */
  reopenSession(dcs: readonly unknown[]): AuthKeyBytes[] | undefined {
    const memory = this.#session;
    if (memory === undefined) return undefined;
    if (memory.sealed.length !== this.#sealedScratch.length) this.#sealedScratch = Buffer.from(new ArrayBuffer(memory.sealed.length));
    if (!sameKeys(dcs, memory.sealed, memory.sealedEnds, memory.where, this.#sealedScratch)) return undefined;
    return placeKeys(dcs as readonly DataCenter[], memory.plain, memory.plainEnds, AuthKeyBytes);
  }

  /**
   * Remembers the values just sealed or opened at `where` as one session (see
   * SessionMemory), when each is what its place remembers now: not when a place is at a
   * DC id that is no entry number (a corrupt stored one: its values stay in #known
   * alone), nor when two keys share a place or the memory was cleared on the way
   * (KNOWN_LIMIT), where the session would answer otherwise than the places.
   */
  #rememberSession(where: readonly number[], known: readonly Known[]): void {
    this.#session = undefined;
    for (let i = 0; i < known.length; i++) {
      const context = keyContext(where, i);
      if (context.kind === 'kv' || entryNumber(context) === undefined || this.#recall(context) !== known[i]) return;
    }
    const plain = concatenated(known.map((k) => k.plain));
    const sealed = concatenated(known.map((k) => k.sealed));
    this.#session = { where: where.slice(), plain: plain.bytes, plainEnds: plain.ends, sealed: sealed.bytes, sealedEnds: sealed.ends };
  }

  /** The value opened for `context`, this instance's own (remembered): callers copy its plaintext out. */
  #open(sealed: Uint8Array, context: SealContext, describe: () => string): Known {
    const known = this.#recall(context);
    if (known !== undefined && known.sealed.equals(sealed)) return known;
    const place = placeOf(context);
    const what = describe();
    const { keyId, body } = parseHeader(sealed, what);
    const key = this.#keys.get(keyId);
    if (key === undefined) {
      throw new EncryptionError(
        `${what} is sealed with encryption key ${JSON.stringify(keyId)}, which is not configured (configured: ${this.keyIds.map((id) => JSON.stringify(id)).join(', ')})`,
        keyId,
        'missing-key',
      );
    }
    const header = sealed.subarray(0, body);
    const decipher = createDecipheriv('aes-256-gcm', key.key, sealed.subarray(body - NONCE_LENGTH, body), { authTagLength: TAG_LENGTH });
    decipher.setAAD(this.#context(header, place));
    decipher.setAuthTag(sealed.subarray(sealed.length - TAG_LENGTH));
    // Its own memory, not a slice of Node's shared pool: it is remembered and its bytes are a key.
    const plain = Buffer.from(new ArrayBuffer(sealed.length - body - TAG_LENGTH));
    try {
      let offset = decipher.update(sealed.subarray(body, sealed.length - TAG_LENGTH)).copy(plain, 0);
      offset += decipher.final().copy(plain, offset);
    } catch {
      plain.fill(0);
      throw new EncryptionError(
        `${what} does not open with encryption key ${JSON.stringify(keyId)}: the key material configured under that id is wrong, or the value was copied from another session, DC, entry or slot, or altered`,
        keyId,
        'does-not-open',
      );
    }
    const opened: Known = { keyId, sealed: ownCopy(sealed), plain };
    this.#remember(context, place, opened);
    return opened;
  }

  /** The id a sealed value names, for rotation: undefined for plaintext. */
  keyIdOf(bytes: Uint8Array): string | undefined {
    return isSealed(bytes) ? parseHeader(bytes, 'value').keyId : undefined;
  }

  /** No key material, ever. */
  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return `Sealer { keys: ${this.keyIds.map((id) => JSON.stringify(id)).join(', ')} }`;
  }

  toJSON(): string {
    return `[Sealer: keys ${this.keyIds.join(', ')}]`;
  }
}

/** A Buffer over its own copy of `bytes` (Buffer.from would take a slice of Node's shared pool). */
function ownCopy(bytes: Uint8Array): Buffer {
  const copy = Buffer.from(new ArrayBuffer(bytes.length));
  copy.set(bytes);
  return copy;
}

/** Fresh copies of `buffers` as plain Uint8Arrays (or `View`s), views of one new ArrayBuffer. */
function copiesOf<V extends Uint8Array = Uint8Array>(buffers: readonly Buffer[], View: new (buffer: ArrayBuffer, offset: number, length: number) => V = Uint8Array as never): V[] {
  let total = 0;
  for (const b of buffers) total += b.length;
  const memory = new ArrayBuffer(total);
  let offset = 0;
  return buffers.map((b) => {
    const view = new View(memory, offset, b.length);
    view.set(b);
    offset += b.length;
    return view;
  });
}

/** `buffers` one after another in one buffer of its own, with where each ends. */
function concatenated(buffers: readonly Buffer[]): { bytes: Buffer; ends: number[] } {
  let total = 0;
  const ends = buffers.map((b) => (total += b.length));
  const bytes = Buffer.from(new ArrayBuffer(total));
  let offset = 0;
  for (const b of buffers) {
    bytes.set(b, offset);
    offset += b.length;
  }
  return { bytes, ends };
}

/**
 * True when the keys in `dcs`, walked as a save or load lists them (DC by DC, skipping
 * empty entries; the permanent key, then the temp keys in array order), are byte for byte
 * the values of `held` (the i-th ending at `ends[i]`), each at the place `where` holds
 * for it (DC id, media-only 0/1, slot: see Sealer.sealKeys), and there is no other key.
 * Anything unexpected (a key that is no Uint8Array, temp keys that are no array) is
 * false: the caller's general path handles and reports it. The values are copied one
 * after another into `scratch` (held's length) and compared with `held` in one call:
 * Buffer#equals costs about a thousand instructions per call whatever the length (the
 * call into C++, not the compare).
 */
function sameKeys(dcs: readonly unknown[], held: Buffer, ends: readonly number[], where: readonly number[], scratch: Buffer): boolean {
  const count = ends.length;
  let k = 0;
  let start = 0;
  for (let d = 0; d < dcs.length; d++) {
    const dc = dcs[d] as DataCenter | null | undefined;
    if (dc === undefined || dc === null) continue;
    const media = dc.mediaOnly === true ? 1 : 0;
    const key: unknown = dc.authKey;
    if (key !== undefined) {
      if (k === count || !(key instanceof Uint8Array) || where[3 * k] !== dc.id || where[3 * k + 1] !== media || where[3 * k + 2] !== PERMANENT_KEY_SLOT) return false;
      const end = ends[k] as number;
      if (key.length !== end - start) return false;
      scratch.set(key, start);
      start = end;
      k++;
    }
    const temps: unknown = dc.tempAuthKeys;
    if (temps === undefined) continue;
    if (!Array.isArray(temps)) return false;
    for (let t = 0; t < temps.length; t++) {
      const temp = temps[t] as { index?: unknown; key?: unknown } | null | undefined;
      if (k === count || temp === undefined || temp === null) return false;
      const tempKey = temp.key;
      // where's slots are integers (a validated save's): equal to one, temp.index is one too.
      if (!(tempKey instanceof Uint8Array) || where[3 * k] !== dc.id || where[3 * k + 1] !== media || where[3 * k + 2] !== temp.index) return false;
      const end = ends[k] as number;
      if (tempKey.length !== end - start) return false;
      scratch.set(tempKey, start);
      start = end;
      k++;
    }
  }
  return k === count && scratch.equals(held);
}

/**
 * Puts a fresh copy of `bytes`, cut into `View`s ending at `ends`, in place of the keys of
 * `dcs` in sameKeys's order (which has just matched them), and returns the views.
 */
function placeKeys<V extends Uint8Array>(dcs: readonly DataCenter[], bytes: Buffer, ends: readonly number[], View: new (buffer: ArrayBuffer, offset: number, length: number) => V): V[] {
  const memory = new Uint8Array(bytes).buffer;
  const views: V[] = [];
  let k = 0;
  let start = 0;
  const next = (): V => {
    const end = ends[k++] as number;
    const view = new View(memory, start, end - start);
    start = end;
    views.push(view);
    return view;
  };
  for (let d = 0; d < dcs.length; d++) {
    const dc = dcs[d];
    if (dc === undefined || dc === null) continue;
    if (dc.authKey !== undefined) dc.authKey = next();
    const temps = dc.tempAuthKeys;
    if (temps !== undefined) for (let t = 0; t < temps.length; t++) (temps[t] as { key: Uint8Array }).key = next();
  }
  return views;
}

/** The place of the i-th key of a sealKeys call. */
function keyContext(where: readonly number[], i: number): SealContext {
  const slot = where[3 * i + 2] as number;
  return { kind: slot === PERMANENT_KEY_SLOT ? 'authKey' : 'tempAuthKey', dcId: where[3 * i] as number, mediaOnly: where[3 * i + 1] === 1, slot };
}

/**
 * A key's DC entry and kind as one small integer — DC id × 4 + media-only × 2 + temp × 1 —
 * or undefined for a DC id that is not an integer of 0 … MAX_DC_ID (a corrupt stored one):
 * only there is the number unique to the place, and a remembered value must never be
 * found for another place (it would open there without its associated data checked).
 */
function entryNumber(context: Exclude<SealContext, { kind: 'kv' }>): number | undefined {
  const { dcId } = context;
  if (!Number.isInteger(dcId) || dcId < 0 || dcId > MAX_DC_ID) return undefined;
  return dcId * 4 + (context.mediaOnly ? 2 : 0) + (context.kind === 'tempAuthKey' ? 1 : 0);
}

/** Where a value belongs, as bound into its associated data. */
function placeOf(context: SealContext): string {
  return context.kind === 'kv'
    ? `kv\0${context.key}`
    : `${context.kind}\0${context.dcId}\0${context.mediaOnly ? 'media' : 'main'}\0${context.slot}`;
}

/** 32 fresh random bytes as base64, for `encryption.keys[].key` or an environment variable. */
export function generateEncryptionKey(): string {
  return randomBytes(KEY_LENGTH).toString('base64');
}
