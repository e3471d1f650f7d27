/**
 * What a user moving a session gets wrong, and what the command says back: `--out -`, a
 * session string cut short given to inspect / export / migrate, nothing piped into `-`,
 * an empty file, an SQLite target whose folder is missing, and a login whose format does
 * not record the user. Each case failed (or said something untrue) before.
 */
import { spawnSync } from 'node:child_process';
import Database from 'better-sqlite3';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { EXIT, run } from '../src/index.js';
import { captureIo, convertFixtures } from './helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'mtstore-cli-mistakes-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const bin = fileURLToPath(new URL('../dist/bin.js', import.meta.url));
const telethonString = readFileSync(`${convertFixtures}telethon/ipv4.string`, 'utf8').trim();
const pyrogramString = readFileSync(`${convertFixtures}pyrogram/user.string`, 'utf8').trim();

/** The built binary run in `cwd`: where a relative `--out` lands. */
function mtstoreIn(cwd: string, args: string[]): { code: number; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, [bin, ...args], { cwd, encoding: 'utf8', timeout: 60_000 });
  return { code: result.status ?? -1, stdout: result.stdout, stderr: result.stderr };
}

describe('export --out -', () => {
  // It wrote the login to a file named "-" in the working folder.
  it('is standard output for a string format: the string printed, no file "-" written', () => {
    const cwd = mkdtempSync(join(dir, 'out-dash-'));
    const result = mtstoreIn(cwd, ['export', telethonString, '--format', 'gramjs', '--out', '-']);
    expect(result.code, result.stderr).toBe(EXIT.OK);
    expect(result.stdout).toMatch(/^1[A-Za-z0-9+/=]{300,}\n$/);
    expect(readdirSync(cwd)).toEqual([]);
  });

  it('is a usage error for a file format (a file or folder cannot go to standard output), nothing written', () => {
    const cwd = mkdtempSync(join(dir, 'out-dash-file-'));
    for (const format of ['telethon-sqlite', 'gramjs-store']) {
      const result = mtstoreIn(cwd, ['export', telethonString, '--format', format, '--out', '-']);
      expect(result.code, result.stderr).toBe(EXIT.USAGE);
      expect(result.stderr).toMatch(/^mtstore: --out - is standard output, which takes a string format only: --format \S+ writes a session (file|folder), give its path\.\n$/);
      expect(result.stdout).toBe('');
      expect(readdirSync(cwd)).toEqual([]);
    }
  });
});

describe('a session string cut short', () => {
  // Copied without its last 12 characters: no format decodes it.
  const cut = pyrogramString.slice(0, 350);

  it('inspect and export: exit 3, "check that the whole string was copied", as import says (was exit 6 "No such storage file: the 358-character text")', async () => {
    for (const args of [['inspect', cut], ['export', cut, '--format', 'telethon'], ['import', cut, `${dir}/cut.session`]]) {
      const io = captureIo();
      expect(await run(args, io), `${args[0]}: ${io.err()}`).toBe(EXIT.INPUT);
      expect(io.err()).toBe('mtstore: The input (350 characters) is not a Telethon, GramJS, Pyrogram or mtcute session string, nor an existing file or folder. Pass --format to name it, or check that the whole string was copied.\n');
      expect(io.out()).toBe('');
    }
    expect(existsSync(`${dir}/cut.session`)).toBe(false);
  });

  it('as migrate\'s source: exit 6 naming its own length, not with ".session" added, and pointing at import', async () => {
    const io = captureIo();
    expect(await run(['migrate', cut, `${dir}/never.session`], io)).toBe(EXIT.NOT_FOUND);
    expect(io.err()).toBe('mtstore: No such storage file: the 350-character text given (not shown: a session string?). Give an existing .session file or a database URL (mtstore import reads session strings).\n');
    expect(existsSync(`${dir}/never.session`)).toBe(false);
  });
});

describe('nothing piped into -', () => {
  // `echo "$UNSET" | mtstore import - …`: README says nothing piped in is exit 2; it was
  // exit 3 "The input (0 characters) is not a … session string".
  it('an empty pipe, or one of blank space only, is a usage error (exit 2) for import, inspect and export', async () => {
    for (const [piped, says] of [['', 'it was empty'], ['\n', 'only blank space'], [' \r\n\t', 'only blank space']] as const) {
      for (const args of [['import', '-', `${dir}/piped.session`], ['inspect', '-'], ['export', '-', '--format', 'telethon']]) {
        const stdin = new PassThrough();
        stdin.end(piped);
        const io = { ...captureIo(), stdin };
        expect(await run(args, io), `${args[0]} ${JSON.stringify(piped)}: ${io.err()}`).toBe(EXIT.USAGE);
        expect(io.err()).toBe(`mtstore: "-" read nothing from standard input (${says}): pipe the session string or file in (mtstore import - <target> < session.txt), or give it as the argument.\n`);
      }
    }
    expect(existsSync(`${dir}/piped.session`)).toBe(false);
  });

  it('a string piped in with blank space around it still imports', async () => {
    const stdin = new PassThrough();
    stdin.end(`\n  ${telethonString}  \r\n`);
    const io = { ...captureIo(), stdin };
    expect(await run(['import', '-', `${dir}/piped-ok.session`], io), io.err()).toBe(EXIT.OK);
  });
});

describe('an empty file given as the session', () => {
  it('is exit 3 "is empty (0 bytes)", with a fix that is not --format', async () => {
    const path = join(dir, 'empty.session');
    writeFileSync(path, '');
    const io = captureIo();
    expect(await run(['import', path, `${dir}/from-empty.session`], io)).toBe(EXIT.INPUT);
    expect(io.err()).toBe(`mtstore: "${path}" is empty (0 bytes): it holds no session file and no session string. Copy the session file again with its client stopped, or give the session string.\n`);
    expect(existsSync(`${dir}/from-empty.session`)).toBe(false);
  });
});

describe('an SQLite target that cannot be created', () => {
  // The server hint ("check that the server is running and the URL (host, port,
  // credentials) is right") was added to a local file's failure.
  it('a missing folder: exit 4 naming the path to check, no word of a server or URL', async () => {
    const target = join(dir, 'no-such-folder', 'bot.session');
    const io = captureIo();
    expect(await run(['import', telethonString, target], io)).toBe(EXIT.BACKEND);
    expect(io.err()).toMatch(/^mtstore: SqliteStorage\("default"\): cannot create .*no-such-folder\/bot\.session: ENOENT\b.* — check the path: that its folder exists and this user can read and write there\.\n$/);
    expect(io.err()).not.toMatch(/server|host|URL/);
  });

  it('a server still gets the server hint', async () => {
    const io = captureIo();
    expect(await run(['import', telethonString, 'postgres://postgres@127.0.0.1:1/test?schema=mtstore_never'], io)).toBe(EXIT.BACKEND);
    expect(io.err()).toMatch(/ — check that the server is running and the URL \(host, port, credentials\) is right\.\n$/);
  });
});

describe('a login whose format records no user', () => {
  // A Telethon or GramJS string of a working login was summarised "not logged in".
  it('import, inspect and export say "user not recorded" when the home DC has an auth key', async () => {
    const io = captureIo();
    expect(await run(['import', telethonString, `${dir}/norecord.session`], io), io.err()).toBe(EXIT.OK);
    expect(io.err()).toContain(': home DC 2, user not recorded, 0 peers');
    expect(io.err()).not.toContain('not logged in');
    for (const source of [`${dir}/norecord.session`, telethonString]) {
      const shown = captureIo();
      expect(await run(['inspect', source], shown)).toBe(EXIT.OK);
      expect(shown.out()).toContain('\n  user: not recorded\n');
    }
    const exported = captureIo();
    expect(await run(['export', `${dir}/norecord.session`, '--format', 'telethon-sqlite', '--out', `${dir}/norecord-out.session`], exported), exported.err()).toBe(EXIT.OK);
    expect(exported.err()).toContain(': home DC 2, user not recorded, 0 peers.');
  });

  it('"not logged in" stays for a session without an auth key for its home DC', async () => {
    const path = join(dir, 'logged-out.session');
    copyFileSync(`${convertFixtures}telethon/telethon.session`, path);
    const db = new Database(path);
    db.prepare('update sessions set auth_key = null').run();
    db.prepare('delete from entities where id = 0').run();
    db.close();
    const io = captureIo();
    expect(await run(['import', path, `${dir}/logged-out-store.session`], io), io.err()).toBe(EXIT.OK);
    expect(io.err()).toContain(': home DC 2, not logged in, 6 peers');
    const shown = captureIo();
    expect(await run(['inspect', path], shown)).toBe(EXIT.OK);
    expect(shown.out()).toContain('\n  user: not logged in\n');
  });
});

describe('a folder or file given as what it is not', () => {
  // A Telethon workdir given to inspect: "No such storage file: <folder>.session"; to
  // import: "Not a valid GramJS StoreSession session … Copy the session again".
  it('a folder of session files: exit 3 naming the file to give, for inspect, export and import', async () => {
    const folder = join(dir, 'workdir');
    mkdirSync(folder);
    copyFileSync(`${convertFixtures}telethon/telethon.session`, join(folder, 'anon.session'));
    for (const args of [['inspect', folder], ['export', folder, '--format', 'telethon'], ['import', folder, `${dir}/from-folder.session`]]) {
      const io = captureIo();
      expect(await run(args, io), `${args[0]}: ${io.err()}`).toBe(EXIT.INPUT);
      expect(io.err()).toBe(`mtstore: "${folder}" is a folder but not a GramJS StoreSession folder (no <name>:authKey file); a Telethon, Pyrogram or mtcute session is a file: give the file (it holds anon.session).\n`);
    }
    expect(existsSync(`${dir}/from-folder.session`)).toBe(false);
  });

  it('a folder beside a storage file of its name is still that storage (Telethon\'s .session rule)', async () => {
    const io = captureIo();
    expect(await run(['import', telethonString, `${dir}/workdir2`], io), io.err()).toBe(EXIT.OK);
    mkdirSync(join(dir, 'workdir2'));
    const shown = captureIo();
    expect(await run(['inspect', `${dir}/workdir2`], shown), shown.err()).toBe(EXIT.OK);
    expect(shown.out()).toContain('workdir2: 1 session\n');
  });

  it('a GramJS folder asked by inspect for a name it lacks: the names it holds and --name, not "copy the session again"', async () => {
    const folder = join(dir, 'acct');
    mkdirSync(folder);
    writeFileSync(join(folder, 'acct%3AdcId'), '2');
    writeFileSync(join(folder, 'acct%3AauthKey'), JSON.stringify({ type: 'Buffer', data: Array.from({ length: 256 }, (_, i) => i) }));
    const io = captureIo();
    expect(await run(['inspect', folder, '--name', 'other'], io)).toBe(EXIT.INPUT);
    expect(io.err()).toBe('mtstore: Not a valid GramJS StoreSession: the folder holds no session named "other" (it holds: acct); pass one of those names. On the command line --name picks it.\n');
  });

  it('a session file with a string --format: exit 3 saying it is a file (was "No such file or folder" of a file that is there)', async () => {
    const path = `${convertFixtures}telethon/telethon.session`;
    const io = captureIo();
    expect(await run(['import', path, `${dir}/wrong-format.session`, '--format', 'telethon'], io)).toBe(EXIT.INPUT);
    expect(io.err()).toBe(`mtstore: "${path}" is a file, not a telethon session string: leave the format out to read it as what it is, or name its file format. On the command line the format is --format (import) or --from (inspect, export).\n`);
    expect(existsSync(`${dir}/wrong-format.session`)).toBe(false);
  });
});

describe('progress lines on a pipe', () => {
  // A session copied in one page printed its line twice ("a: 6/6 peers (1,200/s)" by the
  // first page, then again by the end), for every session migrated.
  it('a session copied in one page gets one line; one copied in several gets its end once', async () => {
    const source = `${dir}/progress-source.session`;
    const io = captureIo();
    expect(await run(['import', `${convertFixtures}telethon/telethon.session`, source, '--name', 'alice'], io), io.err()).toBe(EXIT.OK);
    const plain = captureIo();
    expect(await run(['migrate', source, `${dir}/progress-target.session`], plain), plain.err()).toBe(EXIT.OK);
    expect(plain.err().match(/^alice: \d+\/\d+ peers/gm)).toEqual(['alice: 6/6 peers']);
    const paged = captureIo();
    expect(await run(['migrate', source, `${dir}/progress-paged.session`, '--batch', '2'], paged), paged.err()).toBe(EXIT.OK);
    const lines = paged.err().match(/^alice: \d+\/\d+ peers/gm) ?? [];
    expect(lines.at(-1)).toBe('alice: 6/6 peers');
    expect(lines.filter((l) => l === 'alice: 6/6 peers')).toHaveLength(1);
  });
});

describe('--key naming an environment variable that is not set', () => {
  // Found unset only by the adapter, once the command had begun: migrate printed
  // "Migrating 1 session …" first; rotate-keys --after added "Resume with --after …" to a
  // run that re-sealed nothing ("… is not set Resume with …").
  it('is exit 2 naming the variable, before anything is opened or printed, for rotate-keys, migrate and export', async () => {
    const unset = 'MTSTORE_TEST_NEVER_SET_KEY';
    delete process.env[unset];
    const store = `${dir}/keys-store.session`;
    expect(await run(['import', telethonString, store, '--name', 'alice'], captureIo())).toBe(EXIT.OK);
    const commands = [
      ['rotate-keys', store, '--key', `k1=${unset}`, '--after', 'alice'],
      ['migrate', store, `${dir}/keys-target.session`, '--key', `k1=${unset}`],
      ['export', store, '--name', 'alice', '--format', 'telethon', '--key', `k1=${unset}`],
      // Nothing is opened: a source that is not there is not what it reports.
      ['rotate-keys', `${dir}/no-such-store.session`, '--key', `k1=${unset}`],
    ];
    for (const args of commands) {
      const io = captureIo();
      expect(await run(args, io), `${args[0]}: ${io.err()}`).toBe(EXIT.USAGE);
      expect(io.err()).toBe(`mtstore: --key k1=${unset}: the environment variable ${unset} is not set. Export it (the key, base64 or hex of 32 bytes) in the shell that runs mtstore.\n`);
      expect(io.out()).toBe('');
    }
    expect(existsSync(`${dir}/keys-target.session`)).toBe(false);
  });
});

describe('migrate between the stores of one SQLite file', () => {
  // Two table prefixes in one file are two stores: `?tablePrefix=` was ignored and the
  // migrate refused as "the same store"; a sqlite: URL of the source file was not recognised.
  it('another ?tablePrefix= is another store; sqlite: and file: spellings of the same one are refused', async () => {
    const file = `${dir}/prefixes.session`;
    expect(await run(['import', telethonString, file, '--name', 'alice'], captureIo())).toBe(EXIT.OK);
    const io = captureIo();
    expect(await run(['migrate', file, `file://${file}?tablePrefix=copy_`], io), io.err()).toBe(EXIT.OK);
    const copied = captureIo();
    expect(await run(['inspect', `file://${file}?tablePrefix=copy_`], copied), copied.err()).toBe(EXIT.OK);
    expect(copied.out()).toContain('session "alice":');
    for (const same of [`file://${file}?tablePrefix=mtstore_`, `sqlite://${file}`, `file://${file}?session=bob`]) {
      const refused = captureIo();
      expect(await run(['migrate', file, same], refused), same).toBe(EXIT.USAGE);
      expect(refused.err()).toMatch(/the same store/);
    }
  });
});

describe('a session string copied with a line break or a space inside', () => {
  // A terminal wraps a long line. It read as no session, and went on as a storage path:
  // "No such storage file: <the whole login>.session" on stderr; as an import target, a
  // file named after it.
  const wrapped = `${telethonString.slice(0, 120)}\n${telethonString.slice(120, 240)}\n${telethonString.slice(240)}`;
  const secret = telethonString.slice(130, 170);

  it('imports, inspects and exports as the same session (argument, file, standard input)', async () => {
    const file = join(dir, 'wrapped.txt');
    writeFileSync(file, `${wrapped}\n`);
    for (const [label, input, stdin] of [['argument', wrapped, undefined], ['file', file, undefined], ['stdin', '-', `${wrapped}\n`]] as const) {
      const piped = stdin === undefined ? {} : { stdin: Object.assign(new PassThrough(), {}).end(stdin) as PassThrough };
      const io = { ...captureIo(), ...piped };
      expect(await run(['export', input, '--format', 'telethon'], io), `${label}: ${io.err()}`).toBe(EXIT.OK);
      expect(io.out(), label).toBe(`${telethonString}\n`);
    }
    const io = captureIo();
    expect(await run(['import', wrapped, `${dir}/wrapped.session`], io), io.err()).toBe(EXIT.OK);
    expect(io.err()).toContain('Imported a telethon session (IPv4)');
  });

  it('cut short: never printed, for inspect, export, migrate, and as an import target', async () => {
    const cut = wrapped.slice(0, 300);
    const cases: [string[], number][] = [
      [['inspect', cut], EXIT.INPUT],
      [['export', cut, '--format', 'gramjs'], EXIT.INPUT],
      [['migrate', cut, `${dir}/never2.session`], EXIT.NOT_FOUND],
      [['import', `${convertFixtures}telethon/telethon.session`, wrapped], EXIT.USAGE],
    ];
    for (const [args, code] of cases) {
      const io = captureIo();
      expect(await run(args, io), `${args[0]}: ${io.err()}`).toBe(code);
      expect(io.err(), args[0]).not.toContain(secret);
      expect(io.err(), args[0]).not.toContain(telethonString.slice(20, 60));
    }
    expect(readdirSync(dir).filter((f) => f.startsWith('1'))).toEqual([]);
  });
});

describe('a session string with other characters copied around it', () => {
  // From JSON, a .env line or a Python list: the quotes, a comma or "SESSION=" kept. The
  // text read as a storage path and was printed whole: "No such storage file: "1ApW…"".
  it('in quotes: read as the string (as a file\'s string is); with a comma or a name before it: exit 3, never printed', async () => {
    for (const quoted of [`"${telethonString}"`, `'${telethonString}'`]) {
      const io = captureIo();
      expect(await run(['export', quoted, '--format', 'telethon'], io), io.err()).toBe(EXIT.OK);
      expect(io.out()).toBe(`${telethonString}\n`);
    }
    for (const text of [`${telethonString},`, `SESSION=${telethonString}`, `["${telethonString}"]`]) {
      for (const args of [['inspect', text], ['export', text, '--format', 'gramjs'], ['import', text, `${dir}/around.session`], ['migrate', text, `${dir}/around.session`]]) {
        const io = captureIo();
        const code = await run(args, io);
        expect([EXIT.INPUT, EXIT.NOT_FOUND], `${args[0]} ${text.slice(0, 12)}: ${io.err()}`).toContain(code);
        expect(io.err(), `${args[0]} ${text.slice(0, 12)}`).not.toContain(telethonString.slice(20, 60));
      }
    }
    expect(existsSync(`${dir}/around.session`)).toBe(false);
  });

  it('a long path that does not exist is still named (its "/" every few characters)', async () => {
    const path = `${dir}/v1.0/${'deep/'.repeat(30)}bot`;
    const io = captureIo();
    expect(await run(['inspect', path], io)).toBe(EXIT.NOT_FOUND);
    expect(io.err()).toBe(`mtstore: No such storage file: ${path}.session. Give an existing .session file or a database URL.\n`);
  });
});

describe('export advice in the command line\'s words', () => {
  // "read the file back with { bot: true }" is the library's option; mtstore's is --bot.
  it('a bot\'s Telethon file: the warning names --bot, and --bot reads it back as a bot', async () => {
    const store = `${dir}/bot-store.session`;
    expect(await run(['import', `${convertFixtures}telethon/telethon.session`, store, '--bot'], captureIo())).toBe(EXIT.OK);
    const out = `${dir}/bot-out.session`;
    const io = captureIo();
    expect(await run(['export', store, '--format', 'telethon-sqlite', '--out', out], io), io.err()).toBe(EXIT.OK);
    expect(io.err()).toContain('mtstore: warning: the bot flag not written (Telethon does not record it: give --bot when importing or exporting the file)\n');
    expect(io.err()).not.toContain('{ bot: true }');
    const back = captureIo();
    expect(await run(['import', out, `${dir}/bot-back.session`, '--bot'], back), back.err()).toBe(EXIT.OK);
    expect(back.err()).toContain('user 777000111 (bot)');
  });
});

describe('--key with the key itself where the variable name goes', () => {
  // Hex passes for a variable name: the unset-variable message must not echo it.
  it('is exit 2 and never echoes it, as the id or as the variable', async () => {
    const key = `a${'0123456789abcdef'.repeat(4).slice(1)}`;
    for (const flag of [`k3=${key}`, `${key}=SOME_VAR`]) {
      const io = captureIo();
      expect(await run(['rotate-keys', `${dir}/never-opened.session`, '--key', flag], io), flag).toBe(EXIT.USAGE);
      expect(io.err()).not.toContain(key.slice(4, 20));
      expect(io.err()).toMatch(/^mtstore: --key got a value of \d+ characters \(not shown\)/);
    }
  });
});
