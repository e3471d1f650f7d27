/**
 * Telegram's well-known DC addresses: the table Pyrogram maps a DC id through (its
 * sessions carry no address), the same addresses Telethon, GramJS and mtcute start
 * from. A session stored without its home DC's address (a Pyrogram import, keys
 * written before any address) needs them: a client that finds none starts from its
 * default DC instead of the one its auth key belongs to, and is logged out.
 */

/** An address of Telegram's table: IPv4, IPv6 and the port Pyrogram uses (443 in production, 80 on the test servers). */
export interface WellKnownDcAddress {
  ipv4: string;
  ipv6: string;
  port: number;
}

const PROD_V4: Readonly<Record<number, string>> = { 1: '149.154.175.53', 2: '149.154.167.51', 3: '149.154.175.100', 4: '149.154.167.91', 5: '91.108.56.130' };
const TEST_V4: Readonly<Record<number, string>> = { 1: '149.154.175.10', 2: '149.154.167.40', 3: '149.154.175.117' };
const PROD_V6: Readonly<Record<number, string>> = {
  1: '2001:b28:f23d:f001::a',
  2: '2001:67c:4e8:f002::a',
  3: '2001:b28:f23d:f003::a',
  4: '2001:67c:4e8:f004::a',
  5: '2001:b28:f23f:f005::a',
};
const TEST_V6: Readonly<Record<number, string>> = { 1: '2001:b28:f23d:f001::e', 2: '2001:67c:4e8:f002::e', 3: '2001:b28:f23d:f003::e' };

/** The well-known address of DC `id` (production DCs 1-5, test DCs 1-3), or undefined for any other. */
export function wellKnownDcAddress(id: number, testMode = false): WellKnownDcAddress | undefined {
  const ipv4 = (testMode ? TEST_V4 : PROD_V4)[id];
  const ipv6 = (testMode ? TEST_V6 : PROD_V6)[id];
  if (ipv4 === undefined || ipv6 === undefined) return undefined;
  return { ipv4, ipv6, port: testMode ? 80 : 443 };
}

const TEST_ADDRESSES: ReadonlySet<string> = new Set([...Object.values(TEST_V4), ...Object.values(TEST_V6)]);

/** Whether `address` (canonical text) is one of Telegram's test servers in the table. */
export function isWellKnownTestAddress(address: string | undefined): boolean {
  return address !== undefined && TEST_ADDRESSES.has(address);
}
