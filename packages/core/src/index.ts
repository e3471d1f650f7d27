export type {
  ChannelState,
  DataCenter,
  Peer,
  PeerCache,
  PeerType,
  SelfUser,
  Session,
  SessionEvent,
  SessionEventBus,
  SessionEventType,
  SessionObserver,
  SessionStorageProtocol,
  Storage,
  TempAuthKey,
  UpdateState,
} from './model.js';
export {
  CorruptDataError,
  InvalidArgumentError,
  isStorageError,
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
  AUTH_KEY_LENGTH,
  describeValue,
  INT64_MAX,
  INT64_MIN,
  MAX_DC_ID,
  PEER_TYPES,
} from './validate.js';
export { AuthKeyBytes, authKeyBytes, checkStoredPeer, checkStoredSession, int64FromStorage } from './stored.js';
export { mergePeer, normalizePeerBatch, peerKey, usernameKey } from './peers.js';
export { fromMarkedId, MAX_CHANNEL_ID, MAX_CHAT_ID, MAX_USER_ID, toMarkedId, type UnmarkedPeerId } from './marked.js';
export { BaseSessionStorage, BaseStorage } from './base.js';
export { decodeSessionEvent, deliverSafely, encodeSessionEvent, LocalEventChannel, LocalSessionEventBus } from './bus.js';
export { SessionSubject, type SessionSubjectOptions } from './subject.js';
export { copyPeer, copySession } from './copy.js';
export { redactUrl, type OpenedSessionStorage, type StorageAdapter } from './adapter.js';
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
