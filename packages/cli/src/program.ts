/** The `mtstore` command line (commander): commands, options, and one line per failure. */
import { Command, CommanderError, InvalidArgumentError as CommanderInvalidArgument, Option } from 'commander';
import { FILE_FORMATS, STRING_FORMATS, type SessionFormat } from '@mtstore/convert';
import { check } from './check.js';
import { EXIT, explain } from './exit.js';
import { exportSession } from './export.js';
import { importSession } from './import.js';
import { inspect } from './inspect.js';
import { processIo, say, type Io } from './io.js';
import { migrate, type RefMode } from './migrate.js';
import { rotateKeys } from './rotate.js';

function integer(value: string): number {
  if (!/^\d+$/.test(value)) throw new CommanderInvalidArgument('expected a positive integer');
  return Number(value);
}

/** Telegram's api_id is a positive int32: anything else would be stored wrapped (or as "none"). */
const API_ID_MAX = 2 ** 31 - 1;

function apiId(value: string): number {
  const id = /^\d{1,10}$/.test(value) ? Number(value) : NaN;
  if (!(id >= 1 && id <= API_ID_MAX)) throw new CommanderInvalidArgument(`expected an api_id from 1 to ${API_ID_MAX}`);
  return id;
}

function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

export function buildProgram(io: Io): Command {
  const program = new Command('mtstore')
    .description('Move MTProto (Telegram) sessions between Telethon, GramJS, Pyrogram, mtcute and any mtstore backend.')
    .version('0.1.0')
    .exitOverride()
    .configureOutput({
      writeOut: (s) => io.stdout.write(s),
      writeErr: (s) => io.stderr.write(s),
      // Commander's own errors (unknown option, missing argument, bad choice) as every
      // other failure: one line starting with `mtstore:` (it writes "error: …" and the
      // help hint on a line of its own otherwise). Subcommands inherit this.
      outputError: (s, write) => write(`mtstore: ${s.replace(/^error: /, '').trim()} (run mtstore --help for usage)\n`),
    });

  program
    .command('import')
    .description('Import a session (string, .session file or GramJS folder) into a storage path or URL, peers included.')
    .argument('<file-or-string>', 'a Telethon/GramJS/Pyrogram/mtcute session string (or a text file holding one), a .session file, a GramJS session folder, or - to read it from standard input')
    .argument('<target>', 'a path (SQLite) or a URL: postgres://, redis://, mongodb://, memory:')
    .option('-n, --name <session>', 'session name in the target (default: ?session= in the URL, else "default")')
    .addOption(new Option('-f, --format <format>', 'read the input as this format (needed only when it is ambiguous)').choices([...STRING_FORMATS, ...FILE_FORMATS]))
    .option('--bot', 'the account is a bot: for Telethon session files only, which do not record it (exit 2 for any other input)')
    .option('--force', 'replace a session already stored under the name')
    .action(async (input: string, target: string, opts: { name?: string; format?: SessionFormat; bot?: boolean; force?: boolean }) => {
      await importSession(input, target, opts, io);
    });

  program
    .command('export')
    .description('Print a stored session as a session string (stdout), or write it with --out as a new file: the string, or a client\'s own session file or folder with its peers. A warning goes to stderr.')
    .argument('<source>', 'a storage path or URL, or a foreign session to convert: a session string, a session file or folder, or - to read it from standard input')
    .addOption(new Option('-f, --format <format>', 'a string format, or a file format (needs --out): Telethon, Pyrogram or mtcute SQLite file, GramJS StoreSession folder').choices([...STRING_FORMATS, ...FILE_FORMATS]).makeOptionMandatory())
    .option('-o, --out <path>', 'write to this new path, mode 0600 (an existing one is refused): required for a file format; a string format writes its string there instead of stdout (- is stdout)')
    .option('-n, --name <session>', 'session name in the source storage or GramJS folder (default: ?session= in the URL, else "default"); exit 2 for a session file or string, which holds one session')
    .option('--api-id <id>', 'api_id for Pyrogram (string or file) when the session has none (a session\'s own api_id is kept)', apiId)
    .addOption(new Option('--from <format>', 'read a foreign source as this format (needed only when it is ambiguous)').choices([...STRING_FORMATS, ...FILE_FORMATS]))
    .option('-k, --key <id=ENV_VAR>', 'for a session sealed by rotate-keys: its encryption key id and the environment variable holding the key (repeatable)', collect)
    .option('--bot', 'a foreign Telethon session file\'s account is a bot (the file does not record it; exit 2 for any other source)')
    .action(async (source: string, opts: { format: string; out?: string; name?: string; apiId?: number; from?: SessionFormat; key?: string[]; bot?: boolean }) => {
      const { key, ...rest } = opts;
      await exportSession(source, { ...rest, ...(key === undefined ? {} : { keys: key }) }, io);
    });

  program
    .command('migrate')
    .description('Copy every named session (snapshot, keys, peers, kv, reference messages) from one backend to another; idempotent, verified.')
    .argument('<from>', 'source storage path or URL')
    .argument('<to>', 'target storage path or URL')
    .option('-n, --name <session>', 'only this session (repeatable)', collect)
    .option('--batch <n>', 'peers per page and per write (1-10000, default 10000)', integer)
    .addOption(new Option('--refs <which>', 'which reference messages to copy: every one, only those of min peers, or none').choices(['all', 'min', 'none']).default('all'))
    .option('-k, --key <id=ENV_VAR>', 'for sessions sealed by rotate-keys: an encryption key id and the environment variable holding the key; both stores open with the keys, the target seals with the first (repeatable)', collect)
    .option('--secret-kv <prefix>', 'with --key: the target also seals kv values under this key prefix, as rotate-keys --secret-kv (repeatable)', collect)
    .action(async (from: string, to: string, opts: { name?: string[]; batch?: number; refs: RefMode; key?: string[]; secretKv?: string[] }) => {
      await migrate(
        from,
        to,
        {
          ...(opts.name ? { names: opts.name } : {}),
          ...(opts.batch !== undefined ? { batch: opts.batch } : {}),
          refs: opts.refs,
          ...(opts.key ? { keys: opts.key } : {}),
          ...(opts.secretKv ? { secretKv: opts.secretKv } : {}),
        },
        io,
      );
    });

  program
    .command('rotate-keys')
    .description('Re-seal every session\'s auth keys (and secret kv values) with the first --key: key rotation, or sealing a plaintext store at once.')
    .argument('<target>', 'a storage path or URL')
    .requiredOption('-k, --key <id=ENV_VAR>', 'an encryption key id and the environment variable holding it (base64 or hex of 32 bytes); the first seals, list old keys after it (repeatable)', collect)
    .option('--secret-kv <prefix>', 'also seal plaintext kv values under this key prefix (repeatable)', collect)
    .option('-n, --name <session>', 'only this session (repeatable)', collect)
    .option('--after <session>', 'resume: skip every session name up to and including this one')
    .option('--batch <n>', 'sessions re-sealed concurrently (1-256, default 8)', integer)
    .action(async (target: string, opts: { key: string[]; secretKv?: string[]; name?: string[]; after?: string; batch?: number }) => {
      await rotateKeys(target, { keys: opts.key, secretKv: opts.secretKv, names: opts.name, after: opts.after, batch: opts.batch }, io);
    });

  program
    .command('inspect')
    .description('A redacted summary: sessions, DCs, user, update state, peer counts. Keys never print.')
    .argument('<source>', 'a storage path or URL, a session file or folder, a session string, or - to read a session from standard input')
    .option('-n, --name <session>', 'only this session of a storage or GramJS folder (exit 2 for a session file or string, which holds one session)')
    .addOption(new Option('--from <format>', 'read a foreign source as this format (needed only when it is ambiguous)').choices([...STRING_FORMATS, ...FILE_FORMATS]))
    .action(async (source: string, opts: { name?: string; from?: SessionFormat }) => {
      await inspect(source, opts, io);
    });

  program
    .command('check')
    .description('Run the conformance kit against a live backend in a fresh scratch namespace and print the matrix.')
    .argument('<url>', 'postgres://, redis://, mongodb:// or a path (a scratch SQLite file is used, never this one)')
    .option('--grep <pattern>', 'run only the tests whose "suite › trait group › test" matches this regular expression (case-insensitive)')
    .action(async (url: string, opts: { grep?: string }) => {
      await check(url, io, undefined, opts);
    });

  return program;
}

/** Runs the CLI; resolves to the exit code (the bin sets process.exitCode). */
export async function run(argv: readonly string[], io: Io = processIo): Promise<number> {
  const program = buildProgram(io);
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return EXIT.OK;
  } catch (error) {
    if (error instanceof CommanderError) {
      // Help and version print and exit 0; every other commander error is a usage error it already printed.
      return error.exitCode === 0 ? EXIT.OK : EXIT.USAGE;
    }
    const { code, line } = explain(error);
    say(io, `mtstore: ${line}`);
    return code;
  }
}
