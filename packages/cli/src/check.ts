/**
 * `mtstore check <url>`: the conformance kit against a live backend, in a fresh scratch
 * namespace (a random schema, key prefix or collection prefix; a temporary SQLite
 * file for paths), removed afterwards. It never opens the data the URL points at.
 */
import { randomBytes } from 'node:crypto';
import { rmSync, mkdtempSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { openSessionStorage, openStorage } from '@mtstore/core';
import type { TestApi } from '@mtstore/conformance';
import { CliError, EXIT, here } from './exit.js';
import { expectImpl } from './expect.js';
import type { Io } from './io.js';
import { isUrl, shown } from './source.js';
import { counted } from './words.js';

interface Registered {
  path: string[];
  name: string;
  body?: () => Promise<void>;
  timeout: number;
  skipReason?: string;
}

export interface CheckReport {
  passed: number;
  failed: number;
  skipped: number;
  failures: string[];
}

export interface Scratch {
  url(namespace: string): string;
  cleanup(namespace: string): Promise<void>;
  /** Removes what holds the namespaces, when check made it (the temporary folder of a path). */
  dispose(): void;
}

/**
 * The URL for a cleanup client of the server `input` names: scheme, credentials, host,
 * port and database path, without mtstore's parameters (`prefix`, …), which the driver
 * does not know. Not `URL.origin`: that is "null" for redis: and mongodb: URLs, and
 * never has the user name or password.
 */
export function serverUrl(input: string): string {
  const url = new URL(input);
  url.search = '';
  url.hash = '';
  return url.href;
}

/**
 * `base` with `key` set to `value` and without `session`: the kit names the sessions it
 * opens, and server storage refuses a session name (openSessionStorage); without
 * `create`: the kit creates its namespaces.
 */
function withParam(base: string, key: string, value: string): string {
  const url = new URL(base);
  url.searchParams.set(key, value);
  url.searchParams.delete('session');
  // A fresh namespace has no store yet: with the URL's create=false (a reading tool's URL)
  // every open of it was NotFoundError, and check exit 6 about its probe's namespace.
  url.searchParams.delete('create');
  return url.href;
}

type Loose = Record<string, (...args: unknown[]) => Promise<unknown>>;

/**
 * The URL without the parameters the mongo adapter reads itself (`collectionPrefix`,
 * `session`, `create`): the driver refuses an option it does not know, so a cleanup
 * client given them could not connect and every namespace stayed.
 */
export function mongoDriverUrl(input: string): string {
  const url = new URL(input);
  for (const name of ['collectionPrefix', 'session', 'create']) url.searchParams.delete(name);
  return url.href;
}

/**
 * The database the mongo adapter opens for `input`: the URL's path, else the adapter's
 * DEFAULT_DATABASE (read from the adapter package, where importDriver finds it) — not the
 * driver's default (`test`), where the kit's collections are not.
 */
async function mongoDatabaseOf(input: string, from: string): Promise<string> {
  const path = new URL(input).pathname.replace(/^\//, '');
  if (path !== '') return decodeURIComponent(path);
  const cli = createRequire(from);
  const adapter = (await import(pathToFileURL(cli.resolve('@mtstore/mongo')).href)) as { DEFAULT_DATABASE?: unknown };
  if (typeof adapter.DEFAULT_DATABASE !== 'string') throw new Error('@mtstore/mongo does not export DEFAULT_DATABASE');
  return adapter.DEFAULT_DATABASE;
}

/** `?cluster=true` (or `1`): the redis adapter opens a Redis Cluster from the URL's host as its seed. */
export function isClusterUrl(input: string): boolean {
  const cluster = new URL(input).searchParams.get('cluster');
  return cluster === 'true' || cluster === '1';
}

/**
 * Removes a namespace from a Redis Cluster: its keys are spread over every master (each
 * session's keys in the slot of its hash tag), so each master is scanned, and they are
 * deleted one by one (one DEL of keys in several slots is CROSSSLOT).
 */
async function removeFromCluster(mod: Record<string, unknown>, input: string, ns: string): Promise<void> {
  type Node = { scan(...args: unknown[]): Promise<[string, string[]]> };
  type ClusterClient = { connect(): Promise<void>; nodes(role: 'master'): Node[]; del(key: string): Promise<number>; quit(): Promise<unknown>; disconnect(): void; on(event: string, listener: () => void): void };
  const Cluster = (mod.Cluster ?? (mod.default as Record<string, unknown> | undefined)?.Cluster) as new (nodes: object[], options: object) => ClusterClient;
  const url = new URL(input);
  const auth = { ...(url.username ? { username: decodeURIComponent(url.username) } : {}), ...(url.password ? { password: decodeURIComponent(url.password) } : {}) };
  const client = new Cluster([{ host: url.hostname.replace(/^\[|\]$/g, ''), port: Number(url.port || 6379) }], {
    lazyConnect: true,
    clusterRetryStrategy: () => null,
    redisOptions: { ...auth, connectTimeout: 3000, maxRetriesPerRequest: 1, ...(url.protocol === 'rediss:' ? { tls: {} } : {}) },
  });
  client.on('error', () => {});
  try {
    await client.connect();
    for (const node of client.nodes('master')) {
      let cursor = '0';
      do {
        const [next, keys] = await node.scan(cursor, 'MATCH', `${ns}:*`, 'COUNT', 1000);
        cursor = next;
        for (const key of keys) await client.del(key);
      } while (cursor !== '0');
    }
  } finally {
    await client.quit().catch(() => client.disconnect());
  }
}

/**
 * The database driver a cleanup client needs (`pg`, `ioredis`, `mongodb`), loaded from where the
 * adapter package that uses it finds it, then from the CLI's own folder. The CLI does not depend
 * on the drivers: in a global install (`npm i -g @mtstore/cli @mtstore/core @mtstore/redis`) the
 * driver is the adapter's peer and lives under `@mtstore/redis/node_modules`, which a plain
 * `import('ioredis')` from the CLI's folder never sees. `from` is where the CLI is (tests move it).
 * Rejects with a CliError naming the driver when neither place has it.
 */
export async function importDriver(driver: string, adapter: string, from: string = here): Promise<Record<string, unknown>> {
  const cli = createRequire(from);
  const places: (() => string)[] = [() => createRequire(cli.resolve(adapter)).resolve(driver), () => cli.resolve(driver)];
  let failure: unknown;
  for (const place of places) {
    let file: string;
    try {
      file = place();
    } catch (error) {
      failure ??= error;
      continue;
    }
    return (await import(pathToFileURL(file).href)) as Record<string, unknown>;
  }
  throw new CliError(
    EXIT.MISSING_PACKAGE,
    `check could not load ${driver} (the driver of ${adapter}) to remove its scratch data: ${failure instanceof Error ? failure.message.split('\n')[0] : String(failure)}`,
  );
}

/** Where the kit's namespaces live for this URL, and how to remove one (`from`: where the CLI is, see importDriver). */
export function scratchFor(input: string, from: string = here): Scratch {
  const scheme = isUrl(input) ? new URL(input).protocol.replace(/:$/, '').toLowerCase() : 'file';
  switch (scheme) {
    case 'postgres':
    case 'postgresql':
      return {
        url: (ns) => withParam(input, 'schema', ns),
        cleanup: async (ns) => {
          const pg = await importDriver('pg', '@mtstore/postgres', from);
          const Client = ((pg.default as Record<string, unknown> | undefined)?.Client ?? pg.Client) as new (o: object) => Loose;
          const client = new Client({ connectionString: input, connectionTimeoutMillis: 3000 });
          await client.connect!();
          try {
            await client.query!(`drop schema if exists "${ns}" cascade`);
          } finally {
            await client.end!();
          }
        },
        dispose: () => {},
      };
    case 'redis':
    case 'rediss':
      return {
        url: (ns) => withParam(input, 'prefix', `${ns}:`),
        cleanup: async (ns) => {
          const mod = await importDriver('ioredis', '@mtstore/redis', from);
          if (isClusterUrl(input)) return removeFromCluster(mod, input, ns);
          const Redis = (mod.Redis ?? mod.default) as new (url: string, o: object) => Loose;
          const client = new Redis(serverUrl(input), { lazyConnect: false, maxRetriesPerRequest: 1 });
          // A failed connection rejects the commands below; without a listener ioredis
          // would also print every retry's error on stderr.
          (client as unknown as { on(event: string, listener: () => void): void }).on('error', () => {});
          try {
            let cursor = '0';
            do {
              const [next, keys] = (await client.scan!(cursor, 'MATCH', `${ns}:*`, 'COUNT', 1000)) as [string, string[]];
              cursor = next;
              if (keys.length > 0) await client.del!(...keys);
            } while (cursor !== '0');
          } finally {
            await client.quit!();
          }
        },
        dispose: () => {},
      };
    case 'mongodb':
    case 'mongodb+srv':
      return {
        url: (ns) => withParam(input, 'collectionPrefix', `${ns}_`),
        cleanup: async (ns) => {
          const mod = await importDriver('mongodb', '@mtstore/mongo', from);
          const MongoClient = (mod.MongoClient ?? (mod.default as Record<string, unknown> | undefined)?.MongoClient) as new (url: string, o: object) => Loose;
          const client = new MongoClient(mongoDriverUrl(input), { serverSelectionTimeoutMS: 3000 });
          try {
            const database = await mongoDatabaseOf(input, from);
            const db = (client as unknown as { db(name: string): { collections(): Promise<{ collectionName: string; drop(): Promise<unknown> }[]> } }).db(database);
            for (const c of await db.collections()) if (c.collectionName.startsWith(`${ns}_`)) await c.drop();
          } finally {
            await client.close!();
          }
        },
        dispose: () => {},
      };
    case 'memory':
      throw new CliError(EXIT.USAGE, 'check needs a backend that keeps data between opens: memory: starts empty on every open. Give a postgres://, redis://, mongodb:// URL or a path.');
    case 'file':
    case 'sqlite': {
      // Never the given file: a scratch file per namespace in a temporary folder.
      const dir = mkdtempSync(join(tmpdir(), 'mtstore-check-'));
      return {
        url: (ns) => join(dir, `${ns}.session`),
        cleanup: async (ns) => {
          for (const suffix of ['', '-wal', '-shm', '-journal']) rmSync(join(dir, `${ns}.session${suffix}`), { force: true });
        },
        dispose: () => rmSync(dir, { recursive: true, force: true }),
      };
    }
    default:
      throw new CliError(EXIT.USAGE, `check does not know how to make a scratch namespace for "${scheme}:" URLs; it supports postgres, redis, mongodb, memory and SQLite paths.`);
  }
}

function withTimeout(promise: Promise<void>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<void>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

export interface CheckOptions {
  /**
   * Runs only the tests whose `suite › group › name` matches this regular expression
   * (case-insensitive), e.g. one trait group after a failure; the others are not run
   * or counted.
   */
  grep?: string | undefined;
}

export async function check(input: string, io: Io, given?: Scratch, options: CheckOptions = {}): Promise<CheckReport> {
  let grep: RegExp | undefined;
  try {
    if (options.grep !== undefined) grep = new RegExp(options.grep, 'i');
  } catch (error) {
    throw new CliError(EXIT.USAGE, `check --grep ${JSON.stringify(options.grep)} is not a regular expression: ${(error as Error).message}`);
  }
  // Made once the arguments are checked: an SQLite path's scratch is a new temporary folder
  // (a bad --grep left one behind on every run, as a default parameter made it first).
  const scratch = given ?? scratchFor(input);
  // A namespace that could not be removed is reported, never dropped silently: the kit's data
  // would stay in the user's database. The kit goes on (its traits are not at fault); at the end
  // the namespaces left are named on stderr and the run exits non-zero.
  const left: { namespace: string; error: unknown }[] = [];
  const recording: Scratch = {
    url: (ns) => scratch.url(ns),
    cleanup: async (ns) => {
      try {
        await scratch.cleanup(ns);
      } catch (error) {
        left.push({ namespace: ns, error });
      }
    },
    dispose: () => {},
  };
  let report: CheckReport;
  try {
    report = await runKit(input, scratch, recording, io, grep);
  } catch (error) {
    if (left.length > 0) io.stderr.write(`mtstore: warning: ${leftBehind(left)}\n`);
    throw error;
  } finally {
    scratch.dispose();
  }
  if (left.length > 0) {
    const first = left[0]!.error;
    throw new CliError(first instanceof CliError ? first.exitCode : EXIT.BACKEND, leftBehind(left));
  }
  return report;
}

function leftBehind(left: { namespace: string; error: unknown }[]): string {
  const names = left.map((l) => l.namespace);
  const shownNames = names.length > 5 ? `${names.slice(0, 5).join(', ')} and ${names.length - 5} more` : names.join(', ');
  const first = left[0]!.error;
  const reason = first instanceof Error ? first.message.split('\n')[0] : String(first);
  return `check could not remove ${counted(left.length, 'scratch namespace')} (${shownNames}), which stay in the database: ${reason}`;
}

async function runKit(input: string, raw: Scratch, scratch: Scratch, io: Io, grep: RegExp | undefined): Promise<CheckReport> {
  const label = isUrl(input) ? new URL(input).protocol.replace(/:$/, '') : 'sqlite';
  // Fail fast, with the usual one-line reason, when the backend is unreachable.
  // A name of this run's own: two checks on one server (two terminals, or test files run
  // in parallel) each drop their probe, and a shared name was dropped under the other's open.
  const probeNs = `mt_check_probe_${randomBytes(4).toString('hex')}`;
  const probe = await openStorage(scratch.url(probeNs), { name: 'probe' });
  let reached = false;
  try {
    await probe.load();
    reached = true;
  } finally {
    await probe.close();
    // An unreachable backend is the error to report, not the cleanup that could not reach it either.
    if (reached) await scratch.cleanup(probeNs);
    else await raw.cleanup(probeNs).catch(() => {});
  }

  // Loaded here, not at the top: the kit (fast-check among it) took ~150 ms of every
  // command's start-up, ~30% of `mtstore --help`, for the one command that runs it.
  const { describeSessionStorage, describeStorage } = await import('@mtstore/conformance');
  const tests: Registered[] = [];
  const path: string[] = [];
  const api: TestApi = {
    describe(name, body) {
      path.push(name);
      try {
        body();
      } finally {
        path.pop();
      }
    },
    it(name, body, timeout) {
      tests.push({ path: [...path], name, body, timeout: timeout ?? 30_000 });
    },
    skip(name, reason) {
      tests.push({ path: [...path], name, timeout: 0, skipReason: reason });
    },
    expect: expectImpl,
  };
  describeStorage(api, label, {
    open: (ns, name) => openStorage(scratch.url(ns), { name }),
    cleanup: (ns) => scratch.cleanup(ns),
  });
  describeSessionStorage(api, label, {
    open: async (ns) => (await openSessionStorage(scratch.url(ns))).storage,
    cleanup: (ns) => scratch.cleanup(ns),
  });

  const all = tests.length;
  const chosen = grep === undefined ? tests : tests.filter((test) => grep.test([...test.path, test.name].join(' › ')));
  if (chosen.length === 0) throw new CliError(EXIT.USAGE, `check --grep ${grep?.source}: no conformance test matches (of ${all}); names are "suite › trait group › test", e.g. "postgres · Storage › round trip"`);
  io.stderr.write(`Running ${chosen.length === all ? counted(all, 'conformance test') : `${chosen.length} of ${counted(all, 'conformance test')}`} against ${shown(input)} in scratch namespaces…\n`);
  const rows = new Map<string, Map<string, { passed: number; failed: number; skipped: number }>>();
  const report: CheckReport = { passed: 0, failed: 0, skipped: 0, failures: [] };
  for (const test of chosen) {
    const [suite = label, group = '(top level)'] = test.path;
    const cells = rows.get(suite) ?? rows.set(suite, new Map()).get(suite)!;
    const cell = cells.get(group) ?? cells.set(group, { passed: 0, failed: 0, skipped: 0 }).get(group)!;
    if (test.skipReason !== undefined || test.body === undefined) {
      cell.skipped += 1;
      report.skipped += 1;
      continue;
    }
    try {
      await withTimeout(test.body(), test.timeout);
      cell.passed += 1;
      report.passed += 1;
    } catch (error) {
      cell.failed += 1;
      report.failed += 1;
      report.failures.push(`${suite} › ${group} › ${test.name}: ${(error instanceof Error ? error.message : String(error)).split('\n')[0]}`);
    }
  }

  const out = (line: string) => io.stdout.write(`${line}\n`);
  for (const [suite, cells] of rows) {
    const header = ['trait group', 'result'];
    const body = [...cells].map(([group, c]) => [group, c.failed ? `FAIL ${c.passed}/${c.passed + c.failed}` : `ok ${c.passed}${c.skipped ? ` +${c.skipped} skipped` : ''}`]);
    const widths = header.map((h, i) => Math.max(h.length, ...body.map((r) => r[i]!.length)));
    const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
    out(`\n${suite}\n${line(header)}\n| ${widths.map((w) => '-'.repeat(w)).join(' | ')} |\n${body.map(line).join('\n')}`);
  }
  for (const failure of report.failures) out(`FAIL ${failure}`);
  out(`\n${report.passed} passed, ${report.failed} failed, ${report.skipped} skipped`);
  if (report.failed > 0) throw new CliError(EXIT.VERIFY, `${counted(report.failed, 'conformance test')} failed against ${shown(input)} (listed above).`);
  return report;
}
