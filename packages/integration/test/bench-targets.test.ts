// The bench's adapter modules (bench/adapters/*.mjs) against the real servers: every
// measured operation runs on both sides, and the raw driver's `load` reads back the same
// session the adapter does. The raw sides restate the adapters' statements by hand, so
// a schema change can leave them behind — schema 9 moved auth key bytes to their own
// table and `npm run bench` then stopped at the SQLite module's first prepare ("no such
// column: auth_key") with nothing in the test run noticing. No speed is asserted here:
// speed is compared in `npm run bench`. Memory's module runs end to end in bench.test.ts.
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';

type Target = (i: number) => Promise<unknown>;
interface Sides {
  adapter: Record<string, Target>;
  raw: Record<string, Target>;
}
interface Opened {
  targets: Sides;
  sealed?: Sides & { close(): Promise<void> };
  close(): Promise<void>;
}
interface BenchModule {
  unavailable(): Promise<string | null>;
  open(options?: { wanted?: (operation: string) => boolean }): Promise<Opened>;
}

const MODULES = ['sqlite', 'postgres', 'redis', 'mongo', 'typeorm'] as const;
/** The modules whose raw `load` and lookups map what they read to a session and peers (the others time the driver's reads and stop there). */
const MAPS_A_SESSION = new Set<string>(['sqlite', 'redis']);

async function load(name: string): Promise<BenchModule> {
  const url = pathToFileURL(new URL(`../../../bench/adapters/${name}.mjs`, import.meta.url).pathname).href;
  return ((await import(url)) as { default: BenchModule }).default;
}

/**
 * A session as plain data: bytes as hex, bigints as text. Walked by hand: JSON.stringify
 * would call the adapter's key type's toJSON, which redacts the bytes.
 */
function plain(value: unknown): unknown {
  if (typeof value === 'bigint') return `${value}n`;
  if (value instanceof Uint8Array) return Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('hex');
  if (Array.isArray(value)) return value.map(plain);
  if (typeof value === 'object' && value !== null) return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, plain(v)]));
  return value;
}

describe.each(MODULES)('bench/adapters/%s.mjs', (name) => {
  it('runs every operation on both sides, and the raw side loads the session the adapter loads', { timeout: 120_000 }, async () => {
    const module = await load(name);
    const reason = await module.unavailable();
    if (reason !== null) {
      // Locally a stopped server skips the module (as `npm run bench` does); CI has every server.
      if (process.env.CI === 'true') throw new Error(`bench/adapters/${name}.mjs: ${reason}`);
      console.warn(`skipped: bench/adapters/${name}.mjs: ${reason}`);
      return;
    }
    const opened = await module.open({ wanted: () => true });
    try {
      // Both sides were given the same session and peers when the module opened: a raw side
      // that maps rows reads all of it (keys included) from the adapter's schema as the adapter does.
      if (MAPS_A_SESSION.has(name)) {
        const adapterSession = await opened.targets.adapter.load?.(0);
        expect(adapterSession).toBeTruthy();
        expect(plain(await opened.targets.raw.load?.(0))).toEqual(plain(adapterSession));
        // And the peers: each lookup finds the same peer on both sides.
        for (const lookup of ['peers.getById', 'peers.getByUsername', 'peers.getByPhone']) {
          const { adapter, raw } = opened.targets;
          if (raw[lookup] === undefined) continue;
          for (const i of [0, 7, 999]) {
            const found = await adapter[lookup]?.(i);
            expect(found, `${lookup}(${i})`).toBeTruthy();
            expect(plain(await raw[lookup]?.(i)), `${lookup}(${i})`).toEqual(plain(found));
          }
        }
      }
      const sides: Sides[] = [opened.targets, ...(opened.sealed === undefined ? [] : [opened.sealed])];
      for (const { adapter, raw } of sides) {
        // An operation without a raw side is listed by `npm run bench`, not measured; every raw one has an adapter side.
        for (const operation of Object.keys(raw)) expect(Object.keys(adapter)).toContain(operation);
        for (const operation of Object.keys(adapter)) {
          for (const side of ['adapter', 'raw'] as const) {
            const target = (side === 'adapter' ? adapter : raw)[operation];
            if (target === undefined) continue;
            for (let i = 0; i < 3; i++) {
              try {
                await target(i);
              } catch (error) {
                throw new Error(`${name} ${side} ${operation}: ${(error as Error).message}`, { cause: error });
              }
            }
          }
        }
      }
    } finally {
      await opened.sealed?.close();
      await opened.close();
    }
  });
});
