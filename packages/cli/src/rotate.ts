/**
 * `mtstore rotate-keys <url> --key new=ENV --key old=ENV`: re-seals every session of a
 * backend with the first key (core's rotateEncryption). Keys come from environment
 * variables only — never from the command line, which ends up in shell history and
 * process listings. Batched, with progress; an interrupted run says how to resume
 * (running it again from the start is safe too: values already current are skipped):
 * a failure, and a signal (Ctrl-C), which stops it at the end of the batch of sessions
 * it is re-sealing (exit 130).
 */
import { isKvKey, looksEncoded, rotateEncryption, type EncryptionOptions, type RotateReport } from '@mtstore/core';
import { CliError, EXIT, explain } from './exit.js';
import { commandLine, Interrupts } from './interrupts.js';
import { say, type Io } from './io.js';
import { progress } from './progress.js';
import { checkNamesHeld, namesWanted, openTarget, shown, storedNames } from './source.js';
import { counted } from './words.js';

export interface RotateKeysOptions {
  /** `id=ENV_NAME`, newest first: the first seals, every one opens. */
  keys: string[];
  /** kv key prefixes whose plaintext values get sealed too. */
  secretKv?: string[] | undefined;
  /** Only these sessions. */
  names?: string[] | undefined;
  /** Resume after this session name. */
  after?: string | undefined;
  /** Sessions re-sealed concurrently. Default 8. */
  batch?: number | undefined;
}

/** Longest kv key (core's isKvKey: 1 to 255 characters from `!` to `~`). */
const MAX_KV_KEY_LENGTH = 255;

/**
 * A --secret-kv prefix no kv key can start with (a character kv keys cannot hold, a
 * space, non-ASCII, or longer than a kv key): it would seal nothing and the run would
 * say it was done, so it is a usage error, before anything is opened. A non-empty
 * prefix some key starts with is itself a valid kv key (core's isKvKey). The empty
 * prefix matches every key (core: it seals every kv value) and is kept.
 */
function checkSecretKv(prefix: string): void {
  // (Through unknown: isKvKey narrows what it is given, and prefix stays a string below.)
  if (prefix === '' || isKvKey(prefix as unknown)) return;
  if (prefix.length > MAX_KV_KEY_LENGTH) {
    // Not shown: text that long given here is more likely something pasted by mistake.
    throw new CliError(EXIT.USAGE, `--secret-kv got a prefix of ${prefix.length} characters (not shown), which no kv key can start with: kv keys are at most ${MAX_KV_KEY_LENGTH} characters.`);
  }
  throw new CliError(
    EXIT.USAGE,
    `--secret-kv ${JSON.stringify(prefix)} can never match: kv keys hold only the characters ! to ~ (printable ASCII, no spaces), so no kv value would be sealed. Give the prefix of the kv keys to seal (e.g. --secret-kv salts).`,
  );
}

/** `id=ENV` → an encryption key read from that environment variable. */
export function encryptionFromFlags(keys: readonly string[], secretKv: readonly string[] = []): EncryptionOptions {
  if (keys.length === 0) throw new CliError(EXIT.USAGE, 'Give at least one --key <id>=<ENV_VAR> (the first one seals; list old keys after it).');
  for (const prefix of secretKv) checkSecretKv(prefix);
  return {
    keys: keys.map((flag) => {
      const match = /^([^=]+)=([A-Za-z_][A-Za-z0-9_]*)$/.exec(flag);
      if (match === null) {
        // Never the value: a key given here by mistake must not be printed back (nor be left in a log).
        // (base64 ends in '=': what comes before it may be the key too).
        throw new CliError(EXIT.USAGE, `--key must be <id>=<ENV_VAR> (the key itself goes in the environment variable, never on the command line), got a value of ${flag.length} characters (not shown)`);
      }
      const id = match[1] as string;
      const env = match[2] as string;
      // Checked here, before anything is opened: the adapter found it unset only once a
      // command had begun (migrate had printed "Migrating 1 session …", rotate-keys added
      // "Resume with --after …" to a run that re-sealed nothing).
      if (process.env[env] === undefined) {
        // Hex key material passes for a variable name (and an id): a name that may be a
        // key is never echoed, as the flag that is not <id>=<ENV_VAR> is not.
        if (looksEncoded(env) || looksEncoded(id)) {
          throw new CliError(EXIT.USAGE, `--key got a value of ${flag.length} characters (not shown) naming an environment variable that is not set: the key itself goes in the environment variable, never on the command line; give --key <id>=<ENV_VAR>.`);
        }
        throw new CliError(EXIT.USAGE, `--key ${id}=${env}: the environment variable ${env} is not set. Export it (the key, base64 or hex of 32 bytes) in the shell that runs mtstore.`);
      }
      return { id, env };
    }),
    secretKvPrefixes: [...secretKv],
  };
}

export async function rotateKeys(target: string, options: RotateKeysOptions, io: Io): Promise<RotateReport> {
  const encryption = encryptionFromFlags(options.keys, options.secretKv);
  // A target without a store is refused (opening it to write would create one): exit 6,
  // nothing created. Networked adapters connect on their first call, so one is made
  // (a read); bad keys fail on the first open below.
  const names = await storedNames(target, 'default');
  // `?session=` picks the one session as it does for the other commands (--name wins); it
  // was ignored, and every session of the store re-sealed.
  const wanted = namesWanted(options.names, target);
  // A misspelt --name would re-seal nothing and report it done.
  checkNamesHeld(wanted ?? [], names, target);
  let bar: ReturnType<typeof progress> | undefined;
  let resumeAfter = options.after;
  let done = 0;
  let total = 0;
  // Killed by a signal, the run said nothing of how far it got (which sessions hold the
  // new key). Taken instead, a signal stops it once the batch of sessions being re-sealed
  // is done (each storage closed by rotateEncryption), with the command that resumes.
  const interrupts = new Interrupts(
    (signal) =>
      `Interrupted (${signal}) while re-sealing ${shown(target)} with key "${encryption.keys[0]?.id}": ${done} of ${counted(total, 'session')} re-sealed, every name up to ${JSON.stringify(resumeAfter)}; ` +
      `the others are as they were (open with the old keys). Resume with: ${commandLine(resumeArgs(target, options, resumeAfter ?? ''))}`,
  );
  try {
    const report = await rotateEncryption({
      open: async (name) => {
        // A turn before each session, so a signal is taken while SQLite's calls resolve as microtasks.
        await interrupts.turn();
        return openTarget(target, name, encryption);
      },
      ...(wanted ? { names: wanted } : {}),
      ...(options.after !== undefined ? { after: options.after } : {}),
      ...(options.batch !== undefined ? { batchSize: options.batch } : {}),
      onProgress: (p) => {
        bar ??= progress(io, 'rotate-keys', p.total, 'session');
        bar.advance(p.done - done);
        done = p.done;
        total = p.total;
        resumeAfter = p.resumeAfter;
        // Called between batches, every session of the last one closed: the place to stop.
        // After the last batch there is nothing left to stop.
        if (p.done < p.total) interrupts.check();
      },
    });
    bar?.finish();
    say(io, `Re-sealed ${counted(report.keys, 'auth key')} and ${counted(report.kvEntries, 'kv value')} of ${counted(report.done, 'session')} in ${shown(target)} with key "${encryption.keys[0]?.id}" (${report.current} already current).`);
    if (report.withoutSnapshot.length > 0) {
      say(io, `${report.withoutSnapshot.length === 1 ? '1 session has no snapshot (its keys were' : `${report.withoutSnapshot.length} sessions have no snapshot (their keys were`} listed one by one): ${report.withoutSnapshot.slice(0, 10).join(', ')}${report.withoutSnapshot.length > 10 ? ', …' : ''}.`);
    }
    return report;
  } catch (error) {
    bar?.finish();
    if (error instanceof CliError && error.exitCode === EXIT.INTERRUPTED) throw error;
    const { code, line } = explain(error);
    const resume = resumeAfter ? ` Resume with --after ${JSON.stringify(resumeAfter)} (or run it again: finished sessions are skipped quickly).` : '';
    throw new CliError(code, `${line}${resume}`);
  } finally {
    interrupts.dispose();
  }
}

/** The rotate-keys arguments that finish a run stopped after `after`: the same ones, with that --after. */
function resumeArgs(target: string, options: RotateKeysOptions, after: string): string[] {
  return [
    'rotate-keys',
    shown(target),
    ...options.keys.flatMap((key) => ['--key', key]),
    ...(options.secretKv ?? []).flatMap((prefix) => ['--secret-kv', prefix]),
    ...(options.names ?? []).flatMap((name) => ['--name', name]),
    '--after',
    after,
    ...(options.batch === undefined ? [] : ['--batch', String(options.batch)]),
  ];
}
