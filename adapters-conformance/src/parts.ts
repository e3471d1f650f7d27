/**
 * The kit spread over several test files: each file registers one part of its trait
 * groups, so a runner with several workers runs the parts side by side. One file holding
 * the whole kit is the longest file of an adapter's run (on PostgreSQL and MongoDB most
 * of it), and a worker left alone with it sets the run's length.
 */
import type { TestApi } from './api.js';

/** `kitPart`'s binding: a TestApi, and what of `parts` the kit never registered. */
export interface KitPart extends TestApi {
  /**
   * Selectors of `parts` that matched no suite or group registered through this binding
   * so far. Ask once the suites are registered: a selector the kit no longer has (a
   * group renamed or removed) would quietly make a part run less, so refuse to go on.
   */
  unmatched(): string[];
}

type Node = { name: string; children: Node[] } | { name: string; test: (api: TestApi) => void };

/**
 * `api` registering only the kit's trait groups that belong to `part` of `parts`. A
 * selector is a group, `Suite > group` (Suite: the part of the suite's title after its
 * last ` · `, e.g. `Storage > session lease` in `postgres · Storage`), or a whole suite
 * (`SessionStorage`); each in one part only. 'rest' takes every group no part names, and
 * the tests a suite registers outside any group, so the files that register each part
 * and 'rest' run the whole kit, each test once, and a group the kit adds later runs too.
 *
 * The kit's registration is collected one suite at a time and replayed to `api` once the
 * suite's body has run, without the groups the part leaves empty (a runner would list
 * them as suites without tests).
 */
export function kitPart<P extends string>(api: TestApi, parts: Readonly<Record<P, readonly string[]>>, part: NoInfer<P> | 'rest'): KitPart {
  const owners = new Map<string, string>();
  for (const [name, selectors] of Object.entries(parts) as [string, readonly string[]][]) {
    if (name === 'rest') throw new Error(`kitPart: 'rest' is every group no part names; it cannot be a part of its own`);
    for (const selector of selectors) {
      if (owners.has(selector)) throw new Error(`kitPart: ${selector} is in two parts (${owners.get(selector)}, ${name})`);
      owners.set(selector, name);
    }
  }
  if (part !== 'rest' && !(part in parts)) throw new Error(`kitPart: no part named ${part}`);
  const seen = new Set<string>();
  const ownerOf = (path: readonly string[]): string => {
    const suite = (path[0] ?? '').split(' · ').pop() as string;
    seen.add(suite);
    if (path.length > 1) seen.add(`${suite} > ${path[1]}`);
    return owners.get(`${suite} > ${path[1]}`) ?? owners.get(suite) ?? 'rest';
  };
  const root: Node[] = [];
  let current = { path: [] as string[], children: root };
  const leaf = (name: string, test: (target: TestApi) => void): void => {
    if (ownerOf([...current.path, name]) === part) current.children.push({ name, test });
  };
  const kept = (node: Node): boolean => 'test' in node || node.children.some(kept);
  const replay = (nodes: Node[]): void => {
    for (const node of nodes.filter(kept)) {
      if ('test' in node) node.test(api);
      else api.describe(node.name, () => replay(node.children));
    }
  };
  return {
    describe(name, body) {
      if (current.path.length === 1) ownerOf([...current.path, name]);
      const node = { name, children: [] as Node[] };
      const parent = current;
      current = { path: [...parent.path, name], children: node.children };
      try {
        body();
      } finally {
        current = parent;
      }
      parent.children.push(node);
      // A suite (a describe at the top) is whole once its body ran: hand it to `api`.
      if (parent.path.length === 0) replay(root.splice(0));
    },
    it: (name, body, timeout) => leaf(name, (target) => target.it(name, body, timeout)),
    skip: (name, reason) => leaf(name, (target) => target.skip(name, reason)),
    expect: api.expect,
    unmatched: () => [...owners.keys()].filter((selector) => !seen.has(selector)),
  };
}
