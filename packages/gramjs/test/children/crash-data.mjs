// What write i of crash-writer.mjs stores, for the writer and the test that checks it.

/** 256 bytes whose first four are i (big-endian): the test reads back which write a stored key is. */
export function crashKey(i) {
  const key = new Uint8Array(256);
  new DataView(key.buffer).setUint32(0, i);
  for (let n = 4; n < 256; n++) key[n] = (i * 31 + n * 7) & 0xff;
  return key;
}

/** The user of write i: an access hash near the bottom of int64; every 7th write is the logged-in user. */
export function crashUser(i) {
  return { id: BigInt(i + 1), accessHash: -(2n ** 63n) + BigInt(i), username: `crash_u${i}`, self: i % 7 === 0 };
}
