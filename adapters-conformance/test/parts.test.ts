// kitPart: the kit spread over test files, each test in exactly one of them.
import { describe, expect, it } from 'vitest';
import { describeSessionEventBus, describeSessionStorage, describeStorage, kitPart, type TestApi } from '../src/index.js';
import type { Expect } from '../src/api.js';

/** A TestApi that records each test's path (`suite > group > … > test`, skipped ones marked) and runs nothing. */
function recorder(): { api: TestApi; tests: string[] } {
  const tests: string[] = [];
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
    it: (name) => void tests.push([...path, name].join(' > ')),
    skip: (name) => void tests.push(`${[...path, name].join(' > ')} [skipped]`),
    expect: expect as unknown as Expect,
  };
  return { api, tests };
}

const never = (): never => {
  throw new Error('registration only: nothing opens');
};

/** The whole kit, as an adapter registers it, through `api`. */
function registerKit(api: TestApi): void {
  describeStorage(api, 'x', { open: never, openExisting: never, corrupt: never, interrupt: never });
  describeSessionStorage(api, 'x', { open: never, openExisting: never, openWithLifetime: never });
  describeSessionEventBus(api, 'x', { open: never, openStorage: never, capabilities: { crossProcess: true }, interrupt: never });
}

const PARTS = {
  slow: ['Storage > session lease', 'Storage > across processes', 'Storage > peers'],
  server: ['SessionStorage', 'Storage > invalid input'],
} as const;

describe('kitPart', () => {
  it('the parts and the rest register the whole kit, each test once, in the kit order', () => {
    const whole = recorder();
    registerKit(whole.api);
    const byPart = (['slow', 'server', 'rest'] as const).map((part) => {
      const { api, tests } = recorder();
      const t = kitPart(api, PARTS, part);
      registerKit(t);
      expect(t.unmatched()).toEqual([]);
      return tests;
    });
    expect(whole.tests.length).toBeGreaterThan(100);
    for (const tests of byPart) expect(tests.length).toBeGreaterThan(0);
    expect([...byPart.flat()].sort()).toEqual([...whole.tests].sort());
    // Each part keeps the kit's order.
    for (const tests of byPart) expect(tests).toEqual(whole.tests.filter((test) => tests.includes(test)));
  });

  it('a group goes to the part naming it, a whole suite to the part naming the suite, anything else to the rest', () => {
    const parts = (part: 'slow' | 'server' | 'rest') => {
      const { api, tests } = recorder();
      registerKit(kitPart(api, PARTS, part));
      return tests;
    };
    expect(parts('slow').every((test) => /^x · Storage > (session lease|across processes|peers) > /.test(test))).toBe(true);
    expect(parts('server').every((test) => test.startsWith('x · SessionStorage > ') || test.startsWith('x · Storage > invalid input > '))).toBe(true);
    expect(parts('server').some((test) => test.startsWith('x · SessionStorage > '))).toBe(true);
    const rest = parts('rest');
    expect(rest.some((test) => test.startsWith('x · SessionEventBus > '))).toBe(true);
    expect(rest.some((test) => /^x · (SessionStorage|Storage > (session lease|across processes|peers|invalid input)) > /.test(test))).toBe(false);
  });

  it('a part naming a group the kit does not have is reported by unmatched()', () => {
    const t = kitPart(recorder().api, { slow: ['Storage > session lease', 'Storage > no such group'], other: ['NoSuchSuite'] }, 'rest');
    registerKit(t);
    expect(t.unmatched()).toEqual(['Storage > no such group', 'NoSuchSuite']);
  });

  it('refuses a selector in two parts, a part of its own named rest, and an unknown part', () => {
    const { api } = recorder();
    expect(() => kitPart(api, { a: ['Storage > peers'], b: ['Storage > peers'] }, 'a')).toThrow(/in two parts/);
    expect(() => kitPart(api, { rest: ['Storage > peers'] }, 'rest')).toThrow(/cannot be a part of its own/);
    expect(() => kitPart(api, { a: ['Storage > peers'] } as Record<string, readonly string[]>, 'b')).toThrow(/no part named b/);
  });
});
