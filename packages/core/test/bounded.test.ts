import { describe, expect, it } from 'vitest';
import { mapBounded } from '../src/index.js';

const tick = () => new Promise<void>((resolve) => setTimeout(resolve, 1));

describe('mapBounded', () => {
  it('runs at most `limit` at once and answers in the items order', async () => {
    let running = 0;
    let most = 0;
    const items = Array.from({ length: 50 }, (_, i) => i);
    const answers = await mapBounded(items, 4, async (i) => {
      running++;
      most = Math.max(most, running);
      // Later items finish first: the answers still follow the items.
      await new Promise<void>((resolve) => setTimeout(resolve, (50 - i) % 5));
      running--;
      return i * 2;
    });
    expect(most).toBe(4);
    expect(answers).toEqual(items.map((i) => i * 2));
  });

  it('starts nothing after a failure and rejects with it', async () => {
    const started: number[] = [];
    const failure = new Error('boom');
    const outcome = mapBounded(Array.from({ length: 20 }, (_, i) => i), 2, async (i) => {
      started.push(i);
      await tick();
      if (i === 3) throw failure;
      return i;
    });
    await expect(outcome).rejects.toBe(failure);
    await new Promise<void>((resolve) => setTimeout(resolve, 30));
    // 0-3 started, and 4 in the other worker while 3 ran: none after the failure.
    expect(started.length).toBeLessThanOrEqual(5);
  });

  it('an empty list answers [] without calling work', async () => {
    expect(await mapBounded([], 3, async () => { throw new Error('called'); })).toEqual([]);
  });
});
