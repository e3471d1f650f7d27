import { describe, expect, it } from 'vitest';
import { Once } from '../src/index.js';

describe('Once', () => {
  it('runs the work once for concurrent and later callers, and exposes the value when done', async () => {
    let runs = 0;
    const once = new Once(async () => ++runs);
    expect(once.done).toBe(false);
    const [a, b] = await Promise.all([once.run(), once.run()]);
    expect([a, b, await once.run(), runs]).toEqual([1, 1, 1, 1]);
    expect(once.done).toBe(true);
    expect(once.value).toBe(1);
  });

  it('forgets a failed attempt so the next call retries, unless told to keep it', async () => {
    let runs = 0;
    const flaky = new Once(async () => {
      if (++runs === 1) throw new Error('server down');
      return 'connected';
    });
    await expect(flaky.run()).rejects.toThrow('server down');
    expect(await flaky.run()).toBe('connected');

    let kept = 0;
    const fatal = new Once(
      async () => {
        kept++;
        throw new Error('schema too new');
      },
      () => false,
    );
    await expect(fatal.run()).rejects.toThrow('schema too new');
    await expect(fatal.run()).rejects.toThrow('schema too new');
    expect(kept).toBe(1);
  });

  it('turns a synchronous throw into a rejection, and settled() waits for any outcome', async () => {
    const once = new Once<void>(() => {
      throw new Error('sync');
    });
    const attempt = once.run();
    await once.settled();
    await expect(attempt).rejects.toThrow('sync');
  });
});
