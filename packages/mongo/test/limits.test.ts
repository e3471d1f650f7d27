/**
 * MongoDB's 16 MiB document limit (src/size.ts). A session's channels are fields of its
 * one document, so a bot in a few hundred thousand channels reaches it: ≈ 50 bytes of
 * BSON a channel in the document, ≈ 100 in a `saveUpdateState` command. Such a write is
 * refused before anything is sent, with an error naming the limit and the size, and the
 * stored session stays as it was. Before the check the driver's serialisation buffer
 * (17 MiB) threw a RangeError, reported as StorageUnavailableError; on MongoDB a document
 * between 16 and 17 MiB reached the server and was refused there. FerretDB 1.x does not
 * enforce the limit at all (it stores larger documents), but takes minutes over a
 * document of a few hundred thousand fields (README, Limits).
 */
import { describe, expect, it } from 'vitest';
import { InvalidArgumentError, type ChannelState, type Session } from '@mtstore/core';
import { MongoStorage } from '../src/index.js';
import { plain, scratch, server } from './server.js';

const channels = (count: number, first = 1_000_000_000): ChannelState[] => Array.from({ length: count }, (_, i) => ({ id: BigInt(first + i), pts: 100_000 + i }));

const stored: Session = {
  version: 1,
  homeDcId: 2,
  dcs: [{ id: 2, ipv4: '149.154.167.51', port: 443, authKey: new Uint8Array(256).fill(7) }],
  state: { pts: 5, qts: 6, date: 7, seq: 8 },
  channels: channels(3),
};

/** The error of a too-large write: typed, naming the limit and a size above it, no bytes. */
function expectTooLarge(error: unknown, operation: string): void {
  expect(error).toBeInstanceOf(InvalidArgumentError);
  const message = (error as Error).message;
  expect(message).toContain(`MongoStorage.${operation}("alice")`);
  expect(message).toContain('16777216 bytes');
  const size = Number(/would be (\d+) bytes/.exec(message)?.[1]);
  expect(size).toBeGreaterThan(16 * 1024 * 1024);
}

describe.runIf(server.available)('MongoDB document limit (16 MiB)', () => {
  const { fresh, open, track } = scratch();

  it('save, update and saveUpdateState of a session over 16 MiB reject InvalidArgumentError and leave the stored session as it was', async () => {
    const storage = open(fresh());
    await storage.save(stored);
    const before = await storage.load();

    // 400,000 channels: ≈ 20 MB as the document's `channels`. Above the driver's 17 MiB
    // buffer on purpose: the old code failed at once there, where FerretDB would take the
    // document (no limit there) and minutes to store it.
    const error = await storage.save({ ...stored, channels: channels(400_000) }).catch((e: unknown) => e);
    expectTooLarge(error, 'save');
    const patchError = await storage.update({ channels: channels(400_000) }).catch((e: unknown) => e);
    expectTooLarge(patchError, 'update');
    // 200,000 channels fit the document (≈ 10 MB) but not the command adding them (≈ 20 MB).
    const stateError = await storage.saveUpdateState({ pts: 9, qts: 9, date: 9, seq: 9 }, channels(200_000, 2_000_000_000)).catch((e: unknown) => e);
    expectTooLarge(stateError, 'saveUpdateState');

    const after = await storage.load();
    expect(after?.channels).toEqual(before?.channels);
    expect(after?.state).toEqual(stored.state);
    expect(plain(after?.dcs[0]?.authKey)).toEqual(plain(stored.dcs[0]?.authKey));
    // Still usable: a write of a normal size goes through.
    await storage.saveUpdateState({ pts: 10, qts: 10, date: 10, seq: 10 }, channels(1, 3_000_000_000));
    expect((await storage.load())?.channels).toHaveLength(4);
  });

  it('is refused before any I/O: a storage whose server is unreachable rejects InvalidArgumentError, not StorageUnavailableError', async () => {
    // Port 1 of loopback: nothing listens, so a call that reached for the server would
    // reject StorageUnavailableError after the server selection timeout (3 s). (No timing
    // asserted: validating 400,000 channels takes seconds on a loaded machine.)
    const storage = track(new MongoStorage({ url: 'mongodb://127.0.0.1:1/mt_unreachable?serverSelectionTimeoutMS=3000', name: 'alice' }));
    expectTooLarge(await storage.save({ ...stored, channels: channels(400_000) }).catch((e: unknown) => e), 'save');
    expectTooLarge(await storage.update({ channels: channels(400_000) }).catch((e: unknown) => e), 'update');
    expectTooLarge(await storage.saveUpdateState(stored.state!, channels(200_000)).catch((e: unknown) => e), 'saveUpdateState');
  });
});
