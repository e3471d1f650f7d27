/**
 * `work` over `items` with at most `limit` in flight at once; the answers in the items'
 * order. For a run of database calls that would otherwise all be sent together and queue
 * behind a driver's pool (whose wait timeout then fails the tail). After a failure no
 * further item starts, and the call rejects with that failure.
 */
export async function mapBounded<T, R>(items: readonly T[], limit: number, work: (item: T) => Promise<R>): Promise<R[]> {
  const answers = new Array<R>(items.length);
  let next = 0;
  let failed = false;
  const worker = async (): Promise<void> => {
    while (next < items.length && !failed) {
      const i = next++;
      try {
        answers[i] = await work(items[i] as T);
      } catch (error) {
        failed = true;
        throw error;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return answers;
}
