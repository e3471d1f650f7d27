// What batch i of order-writer.mjs stores, for the writer and the test that checks it.

/** Users per batch: enough that their write takes longer than the update state's. */
export const ORDER_BATCH = 1000;

/** User n of batch i. */
export function orderUser(i, n) {
  return { id: 1 + i * ORDER_BATCH + n, accessHash: 2n ** 62n + BigInt(i * ORDER_BATCH + n), username: `order_${i}_${n}` };
}
