/**
 * Exit codes (documented in the README) and the one line every failure prints: what
 * went wrong and how to fix it. Never a stack trace, never a key or a password.
 */
import { execFileSync } from 'node:child_process';
import { realpathSync } from 'node:fs';
import { sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isConvertError } from '@mtstore/convert';
import { isStorageError } from '@mtstore/core';

/** This CLI's own file: `__filename` in the CommonJS build, `import.meta.url` in the ESM one. */
export const here: string = typeof __MTSTORE_CJS__ === 'boolean' && __MTSTORE_CJS__ ? __filename : import.meta.url;
declare const __MTSTORE_CJS__: boolean | undefined;

export const EXIT = {
  OK: 0,
  /** A bug or an error nobody anticipated. */
  INTERNAL: 1,
  /** Wrong command line: unknown option, missing argument, bad --format or URL. */
  USAGE: 2,
  /** The input is not a session this tool can read (wrong format, ambiguous, corrupt). */
  INPUT: 3,
  /** A backend is unreachable or failed (server down, timeout, corrupt or newer schema). */
  BACKEND: 4,
  /** An adapter or driver package is not installed. */
  MISSING_PACKAGE: 5,
  /** Nothing stored under the session name, or the source does not exist. */
  NOT_FOUND: 6,
  /** migrate's verification or check's conformance run found a difference. */
  VERIFY: 7,
  /** import refused to replace an existing session (pass --force). */
  EXISTS: 8,
  /** A signal (Ctrl-C) stopped export while it wrote a session file, which it removed, import while it wrote (peers, no login), migrate or rotate-keys between batches: 128 + SIGINT's 2, as a shell reports Ctrl-C. */
  INTERRUPTED: 130,
} as const;

export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/** An expected failure of a command, with its exit code and the fix. */
export class CliError extends Error {
  constructor(
    readonly exitCode: ExitCode,
    message: string,
  ) {
    super(message);
    this.name = 'CliError';
  }
}

function firstLine(message: string): string {
  return message.split('\n')[0]!.trim();
}

/**
 * Whether this CLI runs from npm's global folder (`npm install -g @mtstore/cli`): its own file
 * is under `npm root -g`. Asked only for an exit-5 hint, so the `npm` call costs nothing otherwise.
 */
export function runsFromGlobalInstall(self: string = here, globalRoot?: string): boolean {
  try {
    const root = globalRoot ?? execFileSync('npm', ['root', '-g'], { encoding: 'utf8', timeout: 10_000, stdio: ['ignore', 'pipe', 'ignore'], shell: process.platform === 'win32' }).trim();
    const file = realpathSync(self.startsWith('file:') ? fileURLToPath(self) : self);
    return root !== '' && file.startsWith(realpathSync(root) + sep);
  } catch {
    return false;
  }
}

/** The exit code and the line to print for any error; `global`: whether a missing package is installed with `npm install -g`. */
export function explain(error: unknown, global: () => boolean = runsFromGlobalInstall): { code: ExitCode; line: string } {
  const explained = explainError(error);
  // The libraries' hint says `Run: npm install <packages>`; beside a global CLI they must be global too.
  if (explained.code === EXIT.MISSING_PACKAGE && /\bnpm install (?!-g )/.test(explained.line) && global()) {
    return { code: explained.code, line: explained.line.replace(/\bnpm install (?!-g )/g, 'npm install -g ') };
  }
  return explained;
}

/**
 * A value sealed by rotate-keys that the --key flags given do not open: a usage error
 * (which key to pass), not a backend failure. The library's advice names its API option
 * (`encryption: { keys: … }`); on the command line it is --key.
 */
function sealedLine(message: string, error: { keyId?: unknown; reason?: unknown }): string {
  const id = typeof error.keyId === 'string' ? error.keyId : '<id>';
  if (error.reason === 'does-not-open') {
    return `${message}. Check that the environment variable given as --key ${id}=<ENV_VAR> holds the key that sealed it.`;
  }
  const what = message.replace(/(, but this storage has no encryption configured|, which is not configured)\b.*$/, '');
  return `${what}: pass --key ${id}=<ENV_VAR>, the environment variable holding that key (after the first --key when it is an old one).`;
}

/**
 * The fix for a backend that failed. A server's: its host, port and credentials. An SQLite
 * file's (@mtstore/sqlite names itself first) is no server: a folder that does not exist
 * or cannot be written was sent to check "the server" and "the URL (host, port,
 * credentials)"; where the adapter already says what to do (a read-only folder, a lock),
 * nothing is added to contradict it.
 */
function unavailableHint(message: string): string {
  if (!/^SqliteStorage\b/.test(message)) return ' — check that the server is running and the URL (host, port, credentials) is right.';
  return /\(SQLITE_[A-Z_]+\b/.test(message) ? '' : ' — check the path: that its folder exists and this user can read and write there.';
}

/** The fix a converter's refusal needs on the command line: its advice ("pass format: …", "pass name …") as the command's options. */
function convertFix(code: string, message: string): string {
  switch (code) {
    case 'MTSTORE_CONVERT_UNKNOWN_FORMAT':
      // A folder of other files: the message names the session file to give, if it holds one; --format cannot help.
      if (/ is a folder but not a GramJS StoreSession folder/.test(message)) return '';
      if (/ session string: leave the format out\b/.test(message)) return ' On the command line the format is --format (import) or --from (inspect, export).';
      // --format cannot read what is not there: the file was never written (a failed copy, an empty variable).
      if (/ is empty \(0 bytes\)/.test(message)) return ' Copy the session file again with its client stopped, or give the session string.';
      // --format cannot make another program's database a session: say which file to give.
      if (/ is an SQLite file but not /.test(message)) {
        return " Give the session file the client itself keeps (Telethon's <name>.session, Pyrogram's or a fork's <name>.session in its workdir, mtcute's storage file), or a session string exported from it.";
      }
      return ' Pass --format to name it, or check that the whole string was copied.';
    case 'MTSTORE_CONVERT_AMBIGUOUS':
      return ' On the command line: --name <session> picks a session of a folder; --format (import) or --from (inspect, export) names the format.';
    case 'MTSTORE_CONVERT_INVALID':
      // A GramJS folder asked for a name it lacks is no damaged copy.
      if (/ holds no session named /.test(message)) return ' On the command line --name picks it.';
      return ' Copy the session again (the whole string, or the file with its client stopped); if it still fails, have the library that wrote it export a session string and give that instead.';
    case 'MTSTORE_CONVERT_IO':
      // A session file being written (export --out): the folder is what to check.
      if (/^Cannot write\b/.test(message)) return ' Check that its folder exists and this user can write to it.';
      return /\btry again\b/.test(message) ? '' : ' Check the path and that this user can read it.';
    default:
      return '';
  }
}

function explainError(error: unknown): { code: ExitCode; line: string } {
  if (error instanceof CliError) return { code: error.exitCode, line: error.message };
  if (isConvertError(error)) {
    if (error.code === 'MTSTORE_CONVERT_SQLITE_UNAVAILABLE') return { code: EXIT.MISSING_PACKAGE, line: firstLine(error.message) };
    return { code: EXIT.INPUT, line: firstLine(error.message) + convertFix(error.code, error.message) };
  }
  if (isStorageError(error)) {
    const message = firstLine(error.message);
    switch (error.code) {
      case 'MTSTORE_ADAPTER_UNAVAILABLE':
        return { code: EXIT.MISSING_PACKAGE, line: message };
      case 'MTSTORE_STORAGE_UNAVAILABLE':
        return { code: EXIT.BACKEND, line: `${message}${unavailableHint(message)}` };
      case 'MTSTORE_INVALID_ARGUMENT':
        return { code: EXIT.USAGE, line: message };
      case 'MTSTORE_NOT_FOUND':
        return { code: EXIT.NOT_FOUND, line: message };
      case 'MTSTORE_ENCRYPTION':
        return { code: EXIT.USAGE, line: sealedLine(message, error as { keyId?: unknown; reason?: unknown }) };
      case 'MTSTORE_MIGRATION':
        // Another library's session file where a store was named: no mtstore store there
        // (exit 6, like another program's file); the message says to convert it. Any other
        // schema refusal (newer version, failed migration) is a backend problem.
        return { code: (error as { foreignLibrary?: unknown }).foreignLibrary !== undefined ? EXIT.NOT_FOUND : EXIT.BACKEND, line: message };
      default:
        return { code: EXIT.BACKEND, line: message };
    }
  }
  const message = error instanceof Error ? firstLine(error.message) : String(error);
  return { code: EXIT.INTERNAL, line: `unexpected error: ${message}` };
}
