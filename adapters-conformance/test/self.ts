/**
 * The kit tests itself: every trait passes on the reference adapter (memory), and
 * each deliberately broken adapter fails the trait group of the rule it breaks.
 * The suites run through a small collecting runner, so one vitest test here runs a
 * whole suite against one adapter. The tests are spread over two files, which the
 * package's two vitest workers run side by side (in one file they took 131 s on
 * 6 Dec 2026): self.test.ts, the reference adapter and the broken adapters of
 * TIMED_GROUPS (mostly waiting), and self.broken.test.ts, every other broken adapter
 * (mostly CPU: model rounds over memory).
 */
import { describe, expect, it } from 'vitest';
import { LocalEventChannel, LocalSessionEventBus, type EncryptionOptions, type SessionEventBus, type SessionStorageProtocol, type Storage } from '@mtstore/core';
import type { Expect, TestApi } from '../src/api.js';
import { describeSessionEventBus, describeSessionStorage, describeStorage } from '../src/suites.js';
import { MemorySessionStorage, MemoryStorage, MemoryStore } from '../../packages/memory/src/index.js';
import { dumpStore } from '../../packages/memory/test/dump.js';
import type { Damage } from '../src/api.js';
import { BROKEN, behindConnection, corruptMemory, existingOnly, existingServerOnly, MEMORY_DAMAGES, tamperMemory, type Backend, type Backends, type Broken, type Suite } from './broken.js';

interface Collected {
  path: string[];
  body?: () => Promise<void>;
  skipped?: string;
}

/** Registers a suite and returns its tests, without running anything. */
function collect(register: (t: TestApi) => void): Collected[] {
  const tests: Collected[] = [];
  const stack: string[] = [];
  register({
    describe(name, body) {
      stack.push(name);
      body();
      stack.pop();
    },
    it(name, body) {
      tests.push({ path: [...stack, name], body });
    },
    skip(name, reason) {
      tests.push({ path: [...stack, name], skipped: reason });
    },
    expect: expect as unknown as Expect,
  });
  return tests;
}

interface Outcome {
  passed: string[];
  /** `kind`: the root cause's name (a TypeError says the broken adapter crashed, not misbehaved). */
  failed: { test: string; error: string; kind: string }[];
  skipped: string[];
}

/** The name of the error at the end of `cause` (core wraps an adapter's own TypeError in StorageUnavailableError). */
function rootKind(error: unknown): string {
  let root = error;
  while (root instanceof Error && root.cause !== undefined) root = root.cause;
  // `name`, not the class: core's sanitised cause is a plain Error keeping the driver error's name.
  return root instanceof Error ? root.name : typeof root;
}

/** Crashes: a broken adapter failing only with these misbehaves nowhere the kit looks (see below). */
const CRASHES = new Set(['TypeError', 'ReferenceError', 'SyntaxError']);

/**
 * Runs `tests` one after another. With `untilCaught`, it stops after the first failure
 * that is not a crash (or any failure, with `crashesCount`): all a broken adapter's test
 * asks, and the rest of its group (lease TTLs, reconnect waits) is time only.
 */
async function run(tests: Collected[], untilCaught?: { crashesCount: boolean }): Promise<Outcome> {
  const outcome: Outcome = { passed: [], failed: [], skipped: [] };
  for (const test of tests) {
    const caught = outcome.failed.some((f) => untilCaught !== undefined && (untilCaught.crashesCount || !CRASHES.has(f.kind)));
    if (caught) break;
    const name = test.path.join(' › ');
    if (!test.body) {
      outcome.skipped.push(`${name} (${test.skipped})`);
      continue;
    }
    try {
      await test.body();
      outcome.passed.push(name);
    } catch (error) {
      outcome.failed.push({ test: name, error: (error as Error).message.split('\n')[0] ?? '', kind: rootKind(error) });
    }
  }
  return outcome;
}

type Hooks = Pick<Broken, 'capabilities' | 'corrupt' | 'tamper' | 'interrupt' | 'openWithLifetime' | 'openExisting'>;

/** A suite over `open`, every namespace with its own store and channel. */
function suite(kind: Suite, open: (backend: Backend, name: string, encryption?: EncryptionOptions) => unknown, hooks: Hooks = {}): (t: TestApi) => void {
  const backends = new Map<string, Backend>();
  const backend = (ns: string) => backends.get(ns) ?? backends.set(ns, { store: new MemoryStore(), channel: new LocalEventChannel(), drops: 0 }).get(ns)!;
  const cleanup = (ns: string) => void backends.delete(ns);
  // create: false, simulated: a namespace `open` never reached holds no store (existingOnly).
  const namespaces: Backends = { of: backend, find: (ns) => backends.get(ns), count: () => backends.size };
  const openExisting = (ns: string, name: string): Storage =>
    hooks.openExisting?.(namespaces, ns, name) ?? existingOnly(() => namespaces.find(ns), ns, name);
  const faults = {
    ...(hooks.corrupt ? { corrupt: (ns: string, name: string) => hooks.corrupt?.(backend(ns), name) } : {}),
    ...(hooks.interrupt ? { interrupt: (ns: string) => hooks.interrupt?.(backend(ns)) } : {}),
    ...(hooks.tamper ? { tamper: { kinds: MEMORY_DAMAGES, apply: (ns: string, name: string, damage: Damage) => hooks.tamper?.(backend(ns), name, damage) } } : {}),
  };
  // The full 10,000-peer batch runs in memory's own conformance test.
  const capabilities = { peerBatchSize: 1_000, ...hooks.capabilities };
  switch (kind) {
    case 'storage':
      // Memory is fast: many more random sequences than an adapter's default 30, so a rule
      // the model-based trait checks is caught on every run, not by luck.
      return (t) =>
        describeStorage(t, 'x', {
          open: (ns, name) => open(backend(ns), name) as Storage,
          cleanup,
          capabilities,
          modelRuns: 400,
          ...faults,
          openExisting,
          encryption: { open: (ns, name, encryption) => open(backend(ns), name, encryption) as Storage, dump: (ns) => dumpStore(backend(ns).store) },
        });
    case 'server':
      return (t) =>
        describeSessionStorage(t, 'x', {
          open: (ns) => open(backend(ns), '') as SessionStorageProtocol,
          // The lifetime traits on memory itself (their clock is the kit's).
          openWithLifetime: (ns, lifetime) => hooks.openWithLifetime?.(backend(ns), lifetime) ?? new MemorySessionStorage({ store: backend(ns).store, ...lifetime }),
          openExisting: (ns) => existingServerOnly(() => namespaces.find(ns), ns),
          cleanup,
          modelRuns: 400,
          capabilities: hooks.capabilities,
          ...faults,
        });
    case 'bus':
      return (t) =>
        describeSessionEventBus(t, 'x', {
          open: (ns) => open(backend(ns), '') as SessionEventBus,
          openStorage: (ns) => new MemorySessionStorage({ store: backend(ns).store }),
          cleanup,
          capabilities: { deliveryTimeout: 1_000 },
          // The in-process channel held down for 100 ms, for the session cache's reconnect traits.
          interrupt: (bus) => void (bus as LocalSessionEventBus).channel.interrupt(100),
        });
  }
}

/**
 * Trait groups whose broken adapters wait on timers (lease TTLs, reconnects, close()'s
 * grace): 61 of the 131 s (6 Dec 2026). Their broken adapters run in self.test.ts,
 * every other one in self.broken.test.ts.
 */
export const TIMED_GROUPS: readonly string[] = ['session lease', 'faults', 'calls in flight'];

export function describeReference(): void {
  describe('the kit on the reference adapter', () => {
    const drop = (b: Backend) => void b.drops++;
    // Memory behind a simulated connection that reconnects after a drop, as the contract asks.
    const reference: [Suite, (b: Backend, name: string, encryption?: EncryptionOptions) => unknown, Hooks][] = [
      ['storage', (b, name, encryption) => behindConnection(new MemoryStorage({ store: b.store, name, encryption }), b, 'reconnects'), { corrupt: corruptMemory, tamper: tamperMemory, interrupt: drop }],
      ['server', (b) => behindConnection(new MemorySessionStorage({ store: b.store }), b, 'reconnects'), { interrupt: drop }],
      ['bus', (b) => new LocalSessionEventBus(b.channel), {}],
    ];
    for (const [kind, open, hooks] of reference) {
      it(`memory passes every ${kind} trait, skipping none`, async () => {
        const outcome = await run(collect(suite(kind, open, hooks)));
        expect(outcome.failed).toEqual([]);
        expect(outcome.passed.length).toBeGreaterThan(kind === 'bus' ? 10 : 30);
        // Only the cross-process traits (no worker module in the self-test) may be skipped,
        // and the tampered-data kinds memory cannot hold (peers, kv, versions, foreign files: MEMORY_DAMAGES).
        expect(outcome.skipped.filter((s) => !s.includes('processes.module') && !s.includes('the tamper hook does not plant'))).toEqual([]);
        // The whole storage kit in one test: ~10 s quiet, 23.6 s seen at load average 22.
      }, 120_000);
    }
  });
}

/** Each broken adapter of BROKEN that `which` selects: one test that it fails its group. */
export function describeBroken(which: (broken: Broken) => boolean): void {
  describe('the kit fails every broken adapter', () => {
    (BROKEN as Broken[]).forEach((broken, index) => {
      if (!which(broken)) return;
      it(`${broken.suite}: “${broken.rule}” fails the ${broken.group} traits`, async () => {
        // One test per rule: no broken adapter of BROKEN before this one breaks the same rule.
        expect((BROKEN as Broken[]).findIndex((b) => b.rule === broken.rule)).toBe(index);
        const tests = collect(suite(broken.suite, broken.open, broken)).filter((t) => t.path[1] === broken.group);
        expect(tests.length, `trait group ${broken.group} exists`).toBeGreaterThan(0);
        // MTSTORE_KIT_VERBOSE: the whole group, to list every trait the rule fails.
        const verbose = process.env.MTSTORE_KIT_VERBOSE !== undefined;
        const outcome = await run(tests, verbose ? undefined : { crashesCount: broken.crashes === true });
        if (verbose) console.log(broken.rule, outcome.failed);
        expect(outcome.failed.length, `passed: ${outcome.passed.join('; ')}`).toBeGreaterThan(0);
        // Caught for breaking its rule, not for crashing: a broken adapter written against
        // internals that changed since fails every trait with a TypeError and proves nothing.
        expect(
          outcome.failed.filter((f) => broken.crashes === true || !CRASHES.has(f.kind)),
          `only crashes: ${outcome.failed.map((f) => `${f.kind}: ${f.error}`).join('; ')}`,
        ).not.toEqual([]);
      });
    });
  });
}
