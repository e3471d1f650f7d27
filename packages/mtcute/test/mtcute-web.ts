/**
 * @mtcute/test 0.31 ships only its browser platform module, which imports
 * @mtcute/web; under Node mtcute's own test setup uses the Node platform instead
 * (its source maps `platform.js` to `platform.web.js` for browsers only). vitest
 * resolves `@mtcute/web` here, so StubTelegramClient runs on @mtcute/node's real
 * platform and crypto provider. No Telegram connection is involved: the transport
 * is @mtcute/test's stub.
 */
export { NodeCryptoProvider as WebCryptoProvider } from '@mtcute/node/utils.js';
export { NodePlatform as WebPlatform } from '@mtcute/node';
