/**
 * GramJS keeps one server address string for the home DC: a dotted quad, an IPv6
 * address, or (in browsers, over WSS) a host name. mtstore keeps them apart.
 */
import type { DataCenter } from '@mtstore/core';

/** The address entry for `setDC`, keeping the flags of the entry it replaces. */
export function addressEntry(id: number, serverAddress: string, port: number, previous: DataCenter | undefined): DataCenter {
  const dc: DataCenter = { id, port };
  if (serverAddress.includes(':')) dc.ipv6 = serverAddress;
  else if (/^[0-9.]+$/.test(serverAddress)) dc.ipv4 = serverAddress;
  else dc.host = serverAddress;
  if (previous?.testMode !== undefined) dc.testMode = previous.testMode;
  return dc;
}

/**
 * The address GramJS connects to for a stored entry: IPv4 first (what GramJS uses
 * by default), then IPv6, then the host name. Undefined for an entry without one.
 */
export function serverAddressOf(dc: DataCenter): string | undefined {
  return dc.ipv4 ?? dc.ipv6 ?? dc.host;
}

/** The entry without keys, as `Storage.update` takes it. */
export function withoutKeys(dc: DataCenter): DataCenter {
  const { authKey: _key, tempAuthKeys: _temps, ...address } = dc;
  return address;
}
