export { MtcuteStorage, mtcuteStorage, type MtcuteStorageOptions } from './provider.js';
export { MtstoreAuthKeys, toEpochSeconds } from './auth-keys.js';
export { isSecretKey, MtstoreKeyValue, mtcuteKvKey, storedKvKey } from './kv.js';
export { MtstorePeers } from './peers.js';
export { MtstoreRefMessages } from './ref-messages.js';
export { accessHashFromString, accessHashToString, displayNameOf, infoFromPeer, peerFromInfo, storableName, type PeerInfo } from './peer-info.js';
export { isTypedKey } from './session-kv.js';
