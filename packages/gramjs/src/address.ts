/**
 * GramJS keeps one server address string for the home DC: a dotted quad, an IPv6
 * address, or (in browsers, over WSS) a host name. mtstore keeps them apart.
 */
import { assertDcId, assertHost, assertIpv4, assertIpv6, assertPort, type DataCenter } from '@mtstore/core';

/**
 * setDC's arguments as the storage will check them, checked before the session changes
 * anything: an address the storage refuses would otherwise sit in memory and fail every
 * later setDC write with it (InvalidArgumentError, as the Storage would throw).
 */
export function assertAddress(dcId: number, serverAddress: string, port: number): void {
  assertDcId(dcId, 'StorageSession.setDC: dcId');
  if (typeof serverAddress === 'string' && serverAddress.includes(':')) assertIpv6(serverAddress, 'StorageSession.setDC: serverAddress');
  else if (typeof serverAddress === 'string' && /^[0-9.]+$/.test(serverAddress)) assertIpv4(serverAddress, 'StorageSession.setDC: serverAddress');
  else assertHost(serverAddress, 'StorageSession.setDC: serverAddress');
  assertPort(port, 'StorageSession.setDC: port');
}

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
