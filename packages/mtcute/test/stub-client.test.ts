/**
 * The StubTelegramClient these tests make (helpers.ts: stubClient, getMeClient) must not
 * hang the run. mtcute opens its connection on the client's first call and writes on its
 * own (a ping at its first flush, 1 s later, once one is due); over @mtcute/test's own
 * transport that write woke mtcute's waiting read with nothing to read, a 0-byte read
 * mtcute's reader takes for the end of the stream, and its read loop then asked again for
 * ever without letting a timer or socket in (a vitest worker at 100% CPU for 14 minutes,
 * no output: see SilentTransport).
 */
import { Long, type ITelegramConnection } from '@mtcute/core';
import { getMe } from '@mtcute/core/methods.js';
import { createStub } from '@mtcute/test/stub.js';
import { MemoryStorage } from '@mtstore/memory';
import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it, vi } from 'vitest';
import { mtcuteStorage } from '../src/index.js';
import { getMeClient } from './helpers.js';

const self = createStub('user', { id: 7_001_234_569, self: true, accessHash: Long.fromInt(42), firstName: 'Me' });
const DC = { id: 2, ipAddress: '149.154.167.51', port: 443 };
const key = Uint8Array.from({ length: 256 }, (_, i) => (i * 7 + 3) & 0xff);
const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('the stub client of these tests', () => {
  it('its connection never answers: a read waits through a write until close; a client kept open past a ping goes on', async () => {
    // A ping is due at the first flush whatever the age of the worker (mtcute's default: 60 s).
    const tg = getMeClient(mtcuteStorage(new MemoryStorage({ name: 'stub-client' })), self, { network: { pingInterval: 1_000 } });
    try {
      const transport = tg.mt.network._transport;
      // Checked on a connection of its own first: over the old transport, mtcute's read loop would spin below.
      const probe = await transport.connect(DC);
      let read = 'waiting';
      const reading = probe.read(new Uint8Array(64)).then(
        (n: number) => void (read = `${n} bytes`),
        (error: unknown) => void (read = `rejected: ${String(error)}`),
      );
      await probe.write(Uint8Array.of(0xee, 0xee, 0xee, 0xee));
      await turn();
      expect(read, '0 bytes is the end of the stream to mtcute, whose read loop then asks again for ever').toBe('waiting');
      probe.close();
      await reading;
      expect(read).toMatch(/^rejected: .*Connection closed/);

      // mtcute's own connection: everything it writes is counted.
      const written: number[] = [];
      const connect = transport.connect.bind(transport);
      transport.connect = async (dc) => {
        const connection: ITelegramConnection = await connect(dc);
        const write = connection.write.bind(connection);
        connection.write = async (bytes: Uint8Array) => {
          written.push(bytes.length);
          await write(bytes);
        };
        return connection;
      };
      await tg.importSession({ primaryDcs: { main: DC, media: DC }, authKey: key });
      await getMe(tg);
      // The codec's tag, then the first flush: the ping.
      await vi.waitFor(() => expect(written.length).toBeGreaterThan(1), { timeout: 20_000, interval: 50 });
      await turn();
      expect(await tg.storage.self.fetch()).toMatchObject({ userId: self.id });
    } finally {
      await tg.destroy();
    }
  });

  it('is the only one these tests make: no test constructs a StubTelegramClient itself', () => {
    const dir = new URL('.', import.meta.url);
    const direct = readdirSync(dir)
      .filter((file) => file.endsWith('.ts') && file !== 'helpers.ts')
      .filter((file) => /new StubTelegramClient\s*\(/.test(readFileSync(new URL(file, dir), 'utf8')));
    expect(direct, 'make clients with stubClient or getMeClient (helpers.ts)').toEqual([]);
  });
});
