/**
 * A session brought from Telethon or Pyrogram (the artifacts their own code wrote, in
 * @mtstore/convert's fixtures, with the ground truth beside each) read with
 * @mtstore/convert's `parseSession` and stored as `mtstore import` stores it, then opened
 * through each bridge by the real client: mtcute (StubTelegramClient: its client code, its
 * API answered at the MtClient boundary) and GramJS (TelegramClient, whose socket refuses
 * to connect). Each sees the file's DC, auth key and user, resolves the file's peers with
 * their access hashes without an API call, and mtcute resumes from the file's update state.
 * Pyrogram keeps no address: mtcute's own options of the DC, GramJS Telegram's well-known
 * address (wellKnownDcAddress), for both the DC the file names.
 *
 * mtcute answers a username from storage only within a day of the peer's `updated`
 * (its PeersService's USERNAME_TTL), and these files were written in 2023: by username
 * mtcute asks the API again, as it would with its own storage; by id it does not.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Long } from '@mtcute/core';
import { resolvePeer } from '@mtcute/core/methods.js';
import { defaultProductionDc, readStringSession } from '@mtcute/core/utils.js';
import { parseSession } from '@mtstore/convert';
import { wellKnownDcAddress } from '@mtstore/core';
import { StorageSession } from '@mtstore/gramjs';
import { adapters } from '@mtstore/test-adapters';
import { describe, expect, it } from 'vitest';
import { mtcuteStorage } from '../src/index.js';
import { gramClient } from './gram-client.js';
import { backendPerTest, stubClient } from './helpers.js';

const FIXTURES = fileURLToPath(new URL('../../convert/test/fixtures/', import.meta.url));

/** The ground truth written beside each artifact (integers beyond 2^53 - 1 as strings). */
interface Truth {
  dc_id: number;
  ip: string | null;
  port: number | null;
  auth_key_hex: string;
  user_id?: number | null;
  is_bot?: boolean | null;
  update_state?: { pts: number; qts: number; date: number; seq: number };
  channel_pts?: { channel_id: number; pts: number }[];
  entities?: { id: number; hash: number | string; username: string | null; phone: number | null }[];
  peers?: { id: number; access_hash: number | string; type: string; username: string | null; phone_number: string | null }[];
}

interface CachedPeer {
  markedId: number;
  accessHash: bigint;
  username: string | null;
  phone: string | null;
}

/** The file's peers with an access hash (a basic group has none: its input peer is its id). */
function cachedPeers(truth: Truth): CachedPeer[] {
  const rows = truth.entities?.map((e) => ({ markedId: e.id, accessHash: BigInt(e.hash), username: e.username, phone: e.phone === null ? null : String(e.phone) })) ??
    truth.peers?.map((p) => ({ markedId: p.id, accessHash: BigInt(p.access_hash), username: p.username, phone: p.phone_number })) ??
    [];
  // Telethon's id 0 row is its self-user marker, not a peer; a chat (-id above -10^12) has no access hash.
  return rows.filter((row) => row.markedId > 0 || row.markedId < -1_000_000_000_000);
}

const ARTIFACTS = ['telethon/telethon.session', 'telethon/ipv4.string', 'telethon/ipv6.string', 'pyrogram/pyrogram.session', 'pyrogram/user.string'];

function artifact(file: string): { input: string; truth: Truth } {
  const truth = JSON.parse(readFileSync(`${FIXTURES}${file.replace(/\.(string|session)$/, '.json')}`, 'utf8')) as Truth;
  // A string is passed as the string, a file by its path (what `mtstore import` does with each).
  return { input: file.endsWith('.string') ? readFileSync(`${FIXTURES}${file}`, 'utf8').trim() : `${FIXTURES}${file}`, truth };
}

type Call = { _: string } & Record<string, unknown>;

for (const adapter of adapters) {
  describe.skipIf(!(await adapter.available()))(`a Telethon or Pyrogram session imported, on ${adapter.name}`, () => {
    const open = backendPerTest(adapter, 'imported');

    for (const file of ARTIFACTS) {
      it(`${file}: mtcute and GramJS see its DC, key and user, and resolve its peers by id without an API call`, async () => {
        const { input, truth } = artifact(file);
        const parsed = await parseSession(input);
        expect(parsed.warnings).toEqual([]);
        const storage = open();
        await storage.save(parsed.session);
        if (parsed.peers.length > 0) await storage.peers.upsert(parsed.peers);
        const before = await storage.load();
        const peers = cachedPeers(truth);
        expect(peers.length > 0).toBe(parsed.peers.length > 0);

        // mtcute
        const calls: string[] = [];
        const tg = stubClient(mtcuteStorage(open(), { closeOnDestroy: false }));
        (tg.mt as unknown as { call: (c: Call) => Promise<unknown> }).call = async (c: Call) => {
          calls.push(c._);
          throw new Error(`unexpected API call ${c._}`);
        };
        const exported = readStringSession(await tg.exportSession());
        const mtcuteAddress = truth.ip ?? defaultProductionDc.main.ipAddress;
        expect(exported.primaryDcs.main).toMatchObject({ id: truth.dc_id, ipAddress: mtcuteAddress, port: truth.port ?? 443, ipv6: mtcuteAddress.includes(':'), testMode: false });
        expect(Buffer.from(exported.authKey).toString('hex')).toBe(truth.auth_key_hex);
        expect(exported.self?.userId ?? null).toBe(truth.user_id ?? null);
        if (truth.user_id != null) expect(exported.self?.isBot).toBe(truth.is_bot === true);
        for (const peer of peers) {
          const resolved = await resolvePeer(tg, peer.markedId);
          const hash = Long.fromString(peer.accessHash.toString());
          expect(resolved, `mtcute peer ${peer.markedId}`).toEqual(
            peer.markedId > 0 ? { _: 'inputPeerUser', userId: peer.markedId, accessHash: hash } : { _: 'inputPeerChannel', channelId: -peer.markedId - 1_000_000_000_000, accessHash: hash },
          );
        }
        if (truth.update_state !== undefined) {
          const { pts, qts, date, seq } = truth.update_state;
          expect(await tg.storage.updates.getState()).toEqual([pts, qts, date, seq]);
          for (const channel of truth.channel_pts ?? []) expect(await tg.storage.updates.getChannelPts(channel.channel_id)).toBe(channel.pts);
        }
        await tg.mt.storage.save();
        await tg.destroy();
        expect(calls).toEqual([]);

        // GramJS
        const errors: unknown[] = [];
        const session = new StorageSession(open(), { onError: (error) => errors.push(error) });
        const client = session.attach(gramClient(session));
        expect(await client.connect()).toBe(false); // its start-up: load(), then the offline socket
        const gramAddress = truth.ip ?? wellKnownDcAddress(truth.dc_id)?.ipv4;
        expect([session.dcId, session.serverAddress, session.port]).toEqual([truth.dc_id, gramAddress, truth.port ?? 443]);
        expect(session.getAuthKey()?.getKey()?.toString('hex')).toBe(truth.auth_key_hex);
        for (const peer of peers) {
          const entity = session.getInputEntity(peer.markedId) as { className: string; accessHash?: { toString(): string } };
          expect([entity.className, entity.accessHash?.toString()], `GramJS peer ${peer.markedId}`).toEqual([peer.markedId > 0 ? 'InputPeerUser' : 'InputPeerChannel', peer.accessHash.toString()]);
          if (peer.username !== null) expect(session.getInputEntity(`@${peer.username}`).className).toBe(entity.className);
          if (peer.phone !== null) expect(session.getInputEntity(`+${peer.phone}`).className).toBe('InputPeerUser');
        }
        await client.destroy();
        expect(errors).toEqual([]);
        expect(await storage.load(), 'opening it in either client rewrote nothing').toEqual(before);
      });
    }
  });
}
