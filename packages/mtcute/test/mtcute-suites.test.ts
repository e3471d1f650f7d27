/**
 * mtcute's own storage suites (@mtcute/test), run over the bridge on every adapter
 * the way mtcute runs them on its storages: `driver.setup()`, `driver.load()`, then
 * the repositories, with `driver.save()` where the suites call it.
 */
import { testAuthKeysRepository } from '@mtcute/test/storage/auth-keys.js';
import { testKeyValueRepository } from '@mtcute/test/storage/key-value.js';
import { testPeersRepository } from '@mtcute/test/storage/peers.js';
import { testRefMessagesRepository } from '@mtcute/test/storage/ref-messages.js';
import { afterAll, beforeAll, describe } from 'vitest';
import { mtcuteStorage, type MtcuteStorage } from '../src/index.js';
import { adapters, type Backend } from '@mtstore/test-adapters';
import { compareUpdatedInSeconds, late, loadProvider } from './helpers.js';

compareUpdatedInSeconds();

for (const adapter of adapters) {
  describe.skipIf(!(await adapter.available()))(`mtcute storage suites on ${adapter.name}`, () => {
    let backend: Backend;
    let provider: MtcuteStorage;

    beforeAll(async () => {
      backend = await adapter.backend();
      provider = mtcuteStorage(backend.open('mtcute-suites'));
      await loadProvider(provider);
    });
    afterAll(async () => {
      await provider?.driver.destroy?.();
      await backend?.dispose();
    });

    const driver = late(() => provider.driver);
    testAuthKeysRepository(late(() => provider.authKeys));
    testKeyValueRepository(late(() => provider.kv), driver);
    testPeersRepository(late(() => provider.peers), driver);
    testRefMessagesRepository(late(() => provider.refMessages), driver);
  });
}
