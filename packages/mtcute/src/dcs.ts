/**
 * mtcute's `dc_main` / `dc_media` kv entries (its own `serializeBasicDcOption` bytes)
 * and mtstore's typed DC entries. mtcute knows one address per option; mtstore keeps
 * one entry per (DC id, media-only) with an IPv4 and/or IPv6 address.
 */
import type { DataCenter } from '@mtstore/core';
import { parseBasicDcOption, serializeBasicDcOption, type BasicDcOption } from '@mtcute/core/utils.js';

export { parseBasicDcOption, serializeBasicDcOption, type BasicDcOption };

/**
 * The option mtcute would use for this entry — its IPv4 address, else its IPv6 one, else
 * its host name (mtcute connects to whatever `ipAddress` holds) — or null for an entry
 * without an address or port.
 */
export function dcOptionFromEntry(dc: DataCenter): BasicDcOption | null {
  if (dc.port === undefined) return null;
  const ipv6 = dc.ipv4 === undefined && dc.ipv6 !== undefined;
  const ipAddress = dc.ipv4 ?? dc.ipv6 ?? dc.host;
  if (ipAddress === undefined) return null;
  const option: BasicDcOption = { id: dc.id, ipAddress, port: dc.port };
  if (ipv6) option.ipv6 = true;
  if (dc.mediaOnly === true) option.mediaOnly = true;
  if (dc.testMode === true) option.testMode = true;
  return option;
}

/**
 * The entry to store for an option mtcute wrote, over the entry stored for the same
 * (id, media-only) if any (`testMode`: the bridge's option, see SessionKv): an IPv6
 * address and the host name written by another client
 * are kept while they share the port, since mtcute only knows one address. A stored
 * IPv4 address is kept only beside another IPv4 one: beside mtcute's IPv6 address it
 * would be the one read back (dcOptionFromEntry prefers IPv4), so a client that moved
 * to IPv6 would be handed its old IPv4 address after a restart.
 */
export function entryFromDcOption(option: BasicDcOption, mediaOnly: boolean, previous: DataCenter | undefined, testMode?: boolean): DataCenter {
  const dc: DataCenter = { id: option.id, port: option.port };
  const samePort = previous !== undefined && previous.port === option.port;
  // The address goes by its form, not by mtcute's `ipv6` flag (which its options may
  // carry beside an IPv4 literal): the flag itself comes back from the kv copy of
  // mtcute's bytes (SessionKv), and core would refuse an IPv4 literal as `ipv6`.
  if (/^[0-9.]+$/.test(option.ipAddress)) {
    dc.ipv4 = option.ipAddress;
    if (samePort && previous.ipv6 !== undefined) dc.ipv6 = previous.ipv6;
  } else if (option.ipAddress.includes(':')) {
    dc.ipv6 = option.ipAddress;
  } else {
    // A host name (`localhost`, a test server's): the entry's only address, so that it
    // is the one read back (dcOptionFromEntry prefers IP addresses).
    dc.host = option.ipAddress;
  }
  if (dc.host === undefined && samePort && previous.host !== undefined) dc.host = previous.host;
  // The bridge's `testMode` option, when given, is the client's mode: mtcute's options
  // say nothing of it once they come from the server's config (a DC migration).
  const mode = testMode ?? (option.testMode === true ? true : undefined);
  if (mode !== undefined) dc.testMode = mode;
  if (mediaOnly) dc.mediaOnly = true;
  return dc;
}

/** A DC entry without keys (what `Storage.update` takes). */
export function addressOnly(dc: DataCenter): DataCenter {
  const { authKey: _key, tempAuthKeys: _temps, ...address } = dc;
  return address;
}
