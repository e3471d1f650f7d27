/**
 * `mtstore export <networked storage> --format <file format> --out <path>` against the real
 * servers (PostgreSQL, Redis, MongoDB/FerretDB on loopback), each in a scratch schema,
 * key prefix or database removed afterwards: the Telethon fixture imported, then written
 * as each client's file and read back; 25,000 PostgreSQL peers followed across
 * `peers.list` pages; and a PostgreSQL or Redis server that goes away in the middle of the peers
 * (a TCP proxy of the test's, cut once part of the stream has passed): exit 4 with one
 * line, and no half-written file or folder left at --out.
 * An unreachable server skips its tests locally with the reason and fails them with
 * CI=true (the kit's checkServer).
 */
import { mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { connect, createServer, type AddressInfo, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openStorage, type Peer } from '@mtstore/core';
import { randomNamespace } from '@mtstore/conformance';
import { parseSession } from '@mtstore/convert';
import pg from 'pg';
import { deleteKeysWithPrefix } from '@mtstore/test-adapters/redis';
import { afterAll, describe, expect, it } from 'vitest';
import { EXIT, run } from '../src/index.js';
import { captureIo, checkListening, checkPostgres, convertFixtures, makePeers, MONGODB_URL, POSTGRES_URL, REDIS_URL, withParameter } from './helpers.js';

const telethonFile = `${convertFixtures}telethon/telethon.session`;
const DEFAULT_PORTS: Record<string, number> = { 'postgres:': 5432, 'postgresql:': 5432, 'redis:': 6379 };
const FILE_FORMATS = ['telethon-sqlite', 'pyrogram-sqlite', 'mtcute-sqlite', 'gramjs-store'] as const;

const dir = mkdtempSync(join(tmpdir(), 'mtstore-cli-export-servers-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** What a file format keeps of a peer of the Telethon fixture (as export-file.test.ts). */
function kept(format: string, peer: Peer): Peer {
  const { displayName, ...rest } = peer;
  const out: Peer = { ...rest, usernames: peer.usernames.slice(0, format === 'mtcute-sqlite' ? undefined : 1).map((u) => u.toLowerCase()) };
  return format === 'mtcute-sqlite' || format === 'pyrogram-sqlite' || displayName === undefined ? out : { ...out, displayName };
}

const byKey = (peers: readonly Peer[]): Map<string, Peer> => new Map(peers.map((p) => [`${p.type}:${p.id}`, p]));

/** A fresh empty folder for one case's --out paths. */
function outDir(label: string): string {
  const path = join(dir, `${label}-${randomNamespace()}`);
  mkdirSync(path);
  return path;
}

/**
 * Imports the Telethon fixture into `url` as "alice" (the CLI's import), exports it to
 * every file format and reads each back: the home DC's key, and the peers as the format
 * keeps them.
 */
async function importExportEach(url: string, label: string): Promise<void> {
  const imported = captureIo();
  expect(await run(['import', telethonFile, url, '--name', 'alice'], imported), imported.err()).toBe(EXIT.OK);
  const expected = await parseSession(telethonFile);
  const folder = outDir(label);
  const written: Record<string, Awaited<ReturnType<typeof parseSession>>> = {};
  for (const format of FILE_FORMATS) {
    const out = join(folder, format);
    const io = captureIo();
    expect(await run(['export', url, '--name', 'alice', '--format', format, '--out', out, '--api-id', '12345'], io), `${format}: ${io.err()}`).toBe(EXIT.OK);
    expect(io.out()).toBe('');
    expect(io.err().trim().split('\n').at(-1)).toMatch(new RegExp(`^Exported session "alice" as a ${format} (file|folder) to ${out}: home DC 2, user 777000111, 6 peers`));
    written[format] = await parseSession(out);
  }
  for (const format of FILE_FORMATS) {
    const back = written[format]!;
    expect(back.format).toBe(format);
    expect(back.session.dcs.find((d) => d.id === 2)?.authKey, format).toEqual(expected.session.dcs[0]!.authKey);
    expect(byKey(back.peers), format).toEqual(byKey(expected.peers.map((p) => kept(format, p))));
    if (format === 'telethon-sqlite') expect(back.session).toEqual(expected.session);
  }
}

/**
 * A TCP proxy to PostgreSQL that counts what the server sends. Once `cutAfter` bytes
 * have passed it stops listening and destroys every connection: the server is gone,
 * mid-stream, and a reconnect is refused.
 */
class CuttingProxy {
  readonly #server = createServer((socket) => this.#accept(socket));
  readonly #sockets = new Set<Socket>();
  /** Bytes the server sent through this proxy. */
  received = 0;
  cut = false;
  /** Called once, as the proxy cuts. */
  onCut: () => void = () => {};

  readonly #target: URL;

  /** `url`: the server's URL, whose host and port the proxy forwards to. */
  constructor(
    url: string,
    readonly cutAfter = Number.POSITIVE_INFINITY,
  ) {
    this.#target = new URL(url);
  }

  /** `url` with the proxy's host and port instead of the server's. */
  via(port: number): string {
    const through = new URL(this.#target.href);
    through.hostname = '127.0.0.1';
    through.port = String(port);
    return through.href;
  }

  async listen(): Promise<number> {
    await new Promise<void>((resolve) => this.#server.listen(0, '127.0.0.1', resolve));
    return (this.#server.address() as AddressInfo).port;
  }

  #accept(client: Socket): void {
    const upstream = connect(Number(this.#target.port || DEFAULT_PORTS[this.#target.protocol]), this.#target.hostname);
    this.#sockets.add(client).add(upstream);
    const drop = (): void => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', drop).on('close', drop).on('data', (chunk: Buffer) => upstream.write(chunk));
    upstream.on('error', drop).on('close', drop).on('data', (chunk: Buffer) => {
      this.received += chunk.length;
      client.write(chunk);
      if (this.received >= this.cutAfter && !this.cut) {
        this.cut = true;
        this.onCut();
        this.#server.close();
        for (const socket of this.#sockets) socket.destroy();
      }
    });
  }

  async close(): Promise<void> {
    for (const socket of this.#sockets) socket.destroy();
    if (this.#server.listening) await new Promise((resolve) => this.#server.close(resolve));
  }
}

const postgres = await checkPostgres();

describe.skipIf(!postgres.available)(`PostgreSQL${postgres.reason ? ` [skipped: ${postgres.reason}]` : ''}`, () => {
  const schemas: string[] = [];
  const fresh = (base = POSTGRES_URL): string => {
    const schema = randomNamespace();
    schemas.push(schema);
    return withParameter(base, `schema=${schema}`);
  };
  afterAll(async () => {
    const admin = new pg.Client({ connectionString: POSTGRES_URL });
    await admin.connect();
    try {
      for (const schema of schemas) await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    } finally {
      await admin.end();
    }
  });

  it('import of the Telethon fixture, then export --out to each file format, read back', async () => {
    await importExportEach(fresh(), 'postgres');
  });

  it('25,000 peers: every page of peers.list is followed (export pages 10,000 at a time), through a proxy that is not cut', async () => {
    const url = fresh();
    const peers = await manyPeers(url);
    const proxy = new CuttingProxy(url);
    const port = await proxy.listen();
    try {
      const out = join(outDir('postgres-many'), 'many.session');
      const io = captureIo();
      expect(await run(['export', proxy.via(port), '--name', 'bulk', '--format', 'telethon-sqlite', '--out', out], io), io.err()).toBe(EXIT.OK);
      // makePeers marks every tenth peer min: Telethon's file leaves those out (a warning).
      expect(io.err()).toContain('mtstore: warning: 2500 peers: min peer not written');
      expect(io.err()).toMatch(/, 22500 peers \(/);
      const back = await parseSession(out);
      expect(back.peers).toHaveLength(22_500);
      expect(byKey(back.peers)).toEqual(byKey(peers.filter((p) => p.min !== true).map((p) => ({ ...p, usernames: p.usernames.map((u) => u.toLowerCase()) }))));
      // The whole cache went through the proxy.
      expect(proxy.received).toBeGreaterThan(25_000 * 20);
    } finally {
      await proxy.close();
    }
  });

  it('the server gone in the middle of the peers: exit 4 with one line, and nothing left at --out (each file format)', async () => {
    const url = fresh();
    await manyPeers(url);
    await goneMidStream(url, 'postgres');
  }, 60_000);
});

/** A session and 25,000 peers (three of export's 10,000-peer pages) stored as "bulk" at `url`. */
async function manyPeers(url: string): Promise<Peer[]> {
  const storage = await openStorage(url, { name: 'bulk' });
  const peers = makePeers(25_000);
  try {
    await storage.save((await parseSession(telethonFile)).session);
    for (let i = 0; i < peers.length; i += 5_000) await storage.peers.upsert(peers.slice(i, i + 5_000));
  } finally {
    await storage.close();
  }
  return peers;
}

/**
 * Exports "bulk" at `url` to each file format through a proxy that cuts once 60% of an
 * uncut export's bytes have passed (past the first page, short of the last: peers are in
 * the file when the server goes): exit 4, one line, nothing left at --out.
 */
async function goneMidStream(url: string, label: string): Promise<void> {
  const measure = new CuttingProxy(url);
  const measurePort = await measure.listen();
  try {
    const io = captureIo();
    expect(await run(['export', measure.via(measurePort), '--name', 'bulk', '--format', 'telethon-sqlite', '--out', join(outDir(`${label}-measure`), 'whole.session')], io), io.err()).toBe(EXIT.OK);
  } finally {
    await measure.close();
  }
  for (const format of FILE_FORMATS) {
    const proxy = new CuttingProxy(url, Math.floor(measure.received * 0.6));
    const port = await proxy.listen();
    const folder = outDir(`${label}-cut-${format}`);
    // What the writer had made when the server went: the file and its journal, or the claimed folder and the scratch folder.
    let atCut: string[] = [];
    proxy.onCut = () => (atCut = readdirSync(folder));
    try {
      const io = captureIo();
      const code = await run(['export', proxy.via(port), '--name', 'bulk', '--format', format, '--out', join(folder, format), '--api-id', '12345'], io);
      expect(proxy.cut, format).toBe(true);
      expect(atCut, format).toContain(format);
      expect(code, `${format}: ${io.err()}`).toBe(EXIT.BACKEND);
      const lines = io.err().trim().split('\n');
      expect(lines, format).toHaveLength(1);
      expect(lines[0], format).toMatch(/^mtstore: .*peers\.list\("bulk"\) failed: .* — check that the server is running and the URL \(host, port, credentials\) is right\.$/);
      expect(io.out()).toBe('');
      // No file, no -journal, no GramJS folder or scratch folder beside it.
      expect(readdirSync(folder), format).toEqual([]);
    } finally {
      await proxy.close();
    }
  }
}

const redis = await checkListening('Redis', REDIS_URL, 6379);

describe.skipIf(!redis.available)(`Redis${redis.reason ? ` [skipped: ${redis.reason}]` : ''}`, () => {
  const prefix = `${randomNamespace()}:`;
  afterAll(async () => {
    const { Redis } = await import('ioredis');
    const client = new Redis(REDIS_URL);
    try {
      await deleteKeysWithPrefix(client, prefix);
    } finally {
      await client.quit();
    }
  });

  it('import of the Telethon fixture, then export --out to each file format, read back', async () => {
    await importExportEach(withParameter(REDIS_URL, `prefix=${prefix}`), 'redis');
  });

  it('the server gone in the middle of the peers: exit 4 with one line, and nothing left at --out (each file format)', async () => {
    const url = withParameter(REDIS_URL, `prefix=${prefix}`);
    await manyPeers(url);
    await goneMidStream(url, 'redis');
  }, 60_000);
});

const mongo = await checkListening('MongoDB', MONGODB_URL, 27017);

describe.skipIf(!mongo.available)(`MongoDB${mongo.reason ? ` [skipped: ${mongo.reason}]` : ''}`, () => {
  // The fixture's six peers only: FerretDB deadlocks under concurrent bulk upserts.
  const database = randomNamespace();
  afterAll(async () => {
    const { MongoClient } = await import('mongodb');
    const client = new MongoClient(MONGODB_URL);
    try {
      await client.db(database).dropDatabase();
    } finally {
      await client.close();
    }
  });

  it('import of the Telethon fixture, then export --out to each file format, read back', async () => {
    await importExportEach(`${MONGODB_URL.replace(/\/+$/, '')}/${database}`, 'mongo');
  });
});
