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

const channels = (count: number, first = 1_000_000_000n): ChannelState[] => Array.from({ length: count }, (_, i) => ({ id: first + BigInt(i), pts: 100_000 + i }));

/**
 * The channel lists over the limit, built once and shared by both tests (building
 * 310,000 costs ≈ 0.4 s of CPU; the file timed out at 30 s at a load average of 16 with
 * 400,000-channel lists built for every call). Their ids have 19 digits (int64 goes to 9.2e18): a
 * channel's key is `c<id>` and a `saveUpdateState` path names it three times, so fewer
 * channels cross 16 MiB than with today's 10-digit ids.
 */
const big = (() => {
  let lists: { document: ChannelState[]; command: ChannelState[] } | undefined;
  return () =>
    (lists ??= {
      // ≈ 59 bytes of BSON a channel as the document's `channels`: ≈ 18.3 MB, above the
      // driver's 17 MiB buffer on purpose (expectTooLarge's `over`): the old code failed
      // at once there, where FerretDB would take the document (no limit there) and
      // minutes to store it.
      document: channels(310_000, 9_000_000_000_000_000_000n),
      // ≈ 8.9 MB as fields of the document, which fits, but ≈ 19 MB as the command adding them.
      command: channels(150_000, 9_100_000_000_000_000_000n),
    });
})();

const stored: Session = {
  version: 1,
  homeDcId: 2,
  dcs: [{ id: 2, ipv4: '149.154.167.51', port: 443, authKey: new Uint8Array(256).fill(7) }],
  state: { pts: 5, qts: 6, date: 7, seq: 8 },
  channels: channels(3),
};

/** The error of a too-large write: typed, naming the limit and a size above it (`over`, 16 MiB unless told), no bytes. */
function expectTooLarge(error: unknown, operation: string, over = 16 * 1024 * 1024): void {
  expect(error).toBeInstanceOf(InvalidArgumentError);
  const message = (error as Error).message;
  expect(message).toContain(`MongoStorage.${operation}("alice")`);
  expect(message).toContain('16777216 bytes');
  const size = Number(/would be (\d+) bytes/.exec(message)?.[1]);
  expect(size).toBeGreaterThan(over);
}

/** Above the driver's 17 MiB serialisation buffer. */
const PAST_BUFFER = 17 * 1024 * 1024;

/**
 * Each test's timeout. What remains is the storage's own work, no waiting: each call
 * over a big list validates, encodes and sizes it (≈ 1.5-1.9 s of CPU on this 2-core
 * machine; a test makes three), which at a load average of 16 is 40 s or more of wall
 * time. A hang would still fail it.
 */
const CPU_BOUND_MS = 120_000;

describe.runIf(server.available)('MongoDB document limit (16 MiB)', () => {
  const { fresh, open, track } = scratch();

  it('save, update and saveUpdateState of a session over 16 MiB reject InvalidArgumentError and leave the stored session as it was', async () => {
    const storage = open(fresh());
    await storage.save(stored);
    const before = await storage.load();

    const error = await storage.save({ ...stored, channels: big().document }).catch((e: unknown) => e);
    expectTooLarge(error, 'save', PAST_BUFFER);
    const patchError = await storage.update({ channels: big().document }).catch((e: unknown) => e);
    expectTooLarge(patchError, 'update', PAST_BUFFER);
    const stateError = await storage.saveUpdateState({ pts: 9, qts: 9, date: 9, seq: 9 }, big().command).catch((e: unknown) => e);
    expectTooLarge(stateError, 'saveUpdateState');

    const after = await storage.load();
    expect(after?.channels).toEqual(before?.channels);
    expect(after?.state).toEqual(stored.state);
    expect(plain(after?.dcs[0]?.authKey)).toEqual(plain(stored.dcs[0]?.authKey));
    // Still usable: a write of a normal size goes through.
    await storage.saveUpdateState({ pts: 10, qts: 10, date: 10, seq: 10 }, channels(1, 3_000_000_000n));
    expect((await storage.load())?.channels).toHaveLength(4);
  }, CPU_BOUND_MS);

  it('is refused before any I/O: a storage whose server is unreachable rejects InvalidArgumentError, not StorageUnavailableError', async () => {
    // Port 1 of loopback: nothing listens, so a call that reached for the server would
    // reject StorageUnavailableError after the server selection timeout (3 s). (No timing
    // asserted: sizing 310,000 channels takes seconds on a loaded machine.)
    const storage = track(new MongoStorage({ url: 'mongodb://127.0.0.1:1/mt_unreachable?serverSelectionTimeoutMS=3000', name: 'alice' }));
    expectTooLarge(await storage.save({ ...stored, channels: big().document }).catch((e: unknown) => e), 'save');
    expectTooLarge(await storage.update({ channels: big().document }).catch((e: unknown) => e), 'update');
    expectTooLarge(await storage.saveUpdateState(stored.state!, big().command).catch((e: unknown) => e), 'saveUpdateState');
  }, CPU_BOUND_MS);
});
