/** `mtstore import <file-or-string> <target>`: any foreign session into any backend. */
import { parseSession, type ConvertedSession, type SessionFormat } from '@mtstore/convert';
import type { Storage } from '@mtstore/core';
import { inParallel } from './batch.js';
import { CliError, EXIT } from './exit.js';
import { say, type Io } from './io.js';
import { openTarget, sessionNameOf, shown } from './source.js';

export interface ImportOptions {
  name?: string;
  format?: SessionFormat;
  /** Replace a session already stored under the name. */
  force?: boolean;
  /** The account is a bot (Telethon files do not say). */
  bot?: boolean;
}

export interface ImportResult {
  name: string;
  converted: ConvertedSession;
}

/** Peers per upsert: the contract's batch size every adapter handles in one statement. */
const PEER_BATCH = 10_000;

/** Writes a converted session into an open storage: snapshot, peers, kv entries, reference messages. */
export async function writeConverted(storage: Storage, converted: ConvertedSession): Promise<void> {
  await storage.save(converted.session);
  for (let i = 0; i < converted.peers.length; i += PEER_BATCH) await storage.peers.upsert(converted.peers.slice(i, i + PEER_BATCH));
  for (const entry of converted.kv) await storage.kv.set(entry.key, entry.value);
  await inParallel(converted.refMessages, 16, (ref) => storage.refMessages.store(ref.peerId, ref.chatId, ref.messageId));
}

export async function importSession(input: string, target: string, options: ImportOptions, io: Io): Promise<ImportResult> {
  const converted = await parseSession(input, { ...(options.format ? { format: options.format } : {}), ...(options.bot ? { bot: true } : {}) });
  const storage = await openTarget(target, options.name);
  const name = sessionNameOf(target, options.name);
  try {
    if (!options.force && (await storage.load()) !== null) {
      throw new CliError(EXIT.EXISTS, `A session named "${name}" already exists in ${shown(target)}. Pass --force to replace it, or --name to import under another name.`);
    }
    await writeConverted(storage, converted);
  } finally {
    await storage.close();
  }
  const { session, peers, kv, refMessages } = converted;
  const user = session.user ? `user ${session.user.id}${session.user.bot ? ' (bot)' : ''}` : 'not logged in';
  say(
    io,
    `Imported a ${converted.format} session (${converted.layout}) into ${shown(target)} as "${name}": home DC ${session.homeDcId}, ${user}, ` +
      `${peers.length} peers, ${kv.length} kv entries, ${refMessages.length} reference messages.`,
  );
  return { name, converted };
}
