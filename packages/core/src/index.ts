export type {
  AuthKeyEntry,
  AuthKeyStore,
  ChannelState,
  DataCenter,
  KeyValueEntry,
  KeyValueSetOptions,
  LeaseAcquireOptions,
  LeaseHolder,
  LeaseOwner,
  SessionLease,
  KeyValueStore,
  Peer,
  PeerCache,
  PeerListOptions,
  PeerPage,
  PeerType,
  RefMessage,
  RefMessageEntry,
  RefMessageListOptions,
  RefMessagePage,
  RefMessageStore,
  SelfUser,
  Session,
  SessionUpdate,
  SessionEvent,
  SessionEventBus,
  SessionEventType,
  SessionEventBusState,
  SessionEventSubscribeOptions,
  SessionDestroyReason,
  SessionInfo,
  ExpiredSession,
  SessionObserver,
  SessionStorageProtocol,
  Storage,
  TempAuthKey,
  UpdateState,
} from './model.js';
export {
  CorruptDataError,
  EncryptionError,
  type EncryptionFailure,
  type ForeignLibrary,
  InvalidArgumentError,
  isStorageError,
  LeaseHeldError,
  LeaseLostError,
  MigrationError,
  NotFoundError,
  sanitizeCause,
  StorageClosedError,
  StorageError,
  StorageUnavailableError,
  toStorageError,
  type StorageErrorCode,
} from './errors.js';
export {
  assertAuthKey,
  assertChannels,
  assertCounter,
  assertDataCenter,
  assertDcId,
  assertEpochSeconds,
  assertIdentifier,
  assertInt64,
  assertIpv4,
  assertIpv6,
  assertKeyPrefix,
  assertPeer,
  assertPeers,
  assertPeerType,
  assertPhone,
  assertPort,
  assertSession,
  assertSessionEvent,
  assertSessionName,
  assertUpdateState,
  assertUsername,
  assertHost,
  assertKvKey,
  isKvKey,
  assertKvValue,
  assertKvSetOptions,
  assertMessageId,
  assertMessageIds,
  assertSessionUpdate,
  assertTempKeyIndex,
  AUTH_KEY_LENGTH,
  bytesLength,
  describeSecret,
  describeValue,
  INT64_MAX,
  INT64_MIN,
  isPhone,
  isStorableText,
  phoneHash,
  usernameHash,
  storableText,
  looksEncoded,
  describeParameter,
  quotedIfPlain,
  maySessionString,
  isUsername,
  MAX_COMPLETE_BYTES,
  MAX_DC_ID,
  MAX_DISPLAY_NAME,
  MAX_KV_VALUE_BYTES,
  MAX_PEER_PAGE,
  PEER_TYPES,
  assertTimerMs,
  MAX_TIMER_MS,
  nearestName,
  assertKnownOptions,
  optionNames,
  withKnownOptions,
  assertOptional,
} from './validate.js';
export type { AuthKeyRepository, KeyValueRepository, PeerRepository, RefMessageRepository } from './repositories.js';
export type { LeaseRepository, PeerListPage, RefMessageListPage, StoredKeyValueEntry, StoredLease } from './repositories.js';
export { parsePeerCursor, parseRefCursor, peerCursor, refCursor, type PeerPosition } from './cursor.js';
export { assertLeaseAcquireOptions, DEFAULT_LEASE_TTL_SECONDS, describeHolder } from './lease.js';
export { AuthKeyBytes, authKeyBytes, checkStoredPeer, checkStoredSession, int64FromStorage } from './stored.js';
export type { StoredLabel } from './stored.js';
export { mergePeer, normalizePeerBatch, peerIdFromKey, peerIdKey, peerIdKeyOf, peerKey, usernameKey } from './peers.js';
export { fromMarkedId, MAX_CHANNEL_ID, MAX_CHAT_ID, MAX_USER_ID, toMarkedId, type UnmarkedPeerId } from './marked.js';
export { BaseSessionStorage, BaseStorage, type BaseStorageOptions, type ResealReport } from './base.js';
export { generateEncryptionKey, isSealed, sealedKeyId, type EncryptionKey, type EncryptionOptions } from './seal.js';
export { rotateEncryption, type RotateEncryptionOptions, type RotateProgress, type RotateReport } from './rotate.js';
export { DEFAULT_EXPIRE_BATCH, MAX_EXPIRE_BATCH, type SessionLifetimeOptions } from './base.js';
export { decodeSessionEvent, encodeSessionEvent, frozenSessionEvent, LocalEventChannel, LocalSessionEventBus } from './bus.js';
export { assertSubscribeOptions, heartbeatIntervalOption, heartbeatJudge, type HeartbeatJudge } from './bus.js';
export { BusSubscriptions, deliverSafely, deliverToSubscribed, reportStateSafely } from './subscriptions.js';
export { CachedSessionStorage, type CachedSessionStorageOptions, type CachedSessionStorageStats } from './cache.js';
export { SessionSubject, type SessionSubjectOptions } from './subject.js';
export { copyDcAddress, copyPeer, copySelfUser, copySession, copySessionUpdate } from './copy.js';
export { copyOutBytes, copyOutOf } from './bytes.js';
export { connectionStringParam, decodeUrlPart, hideSecret, quotesSecret, redactUrl, type OpenedSessionStorage, type StorageAdapter } from './adapter.js';
export {
  AdapterUnavailableError,
  knownSchemes,
  openSessionStorage,
  openStorage,
  registerAdapter,
  type AdapterLoader,
  type OpenStorageOptions,
  type SessionStorageInput,
  type StorageInput,
} from './open.js';
export { Once } from './once.js';
export { createFromUrl, createOption, prefixFromUrl, storeNotFound } from './create.js';
export { CallsInFlight, whenSilent } from './inflight.js';
export { BackoffTimer } from './backoff.js';
export { checkoutTimeout, CheckoutWatch, type QueuedCheckout } from './checkout-watch.js';
export { silenceBoundedPool, type PgClientClass, type PgPoolClass, type PgPoolConfig, type PgPoolLike } from './pg-pool.js';
export { CallList, type ListedCall } from './call-list.js';
export { mapBounded } from './bounded.js';
export { isWellKnownTestAddress, wellKnownDcAddress, type WellKnownDcAddress } from './dcs.js';
