import { describeSessionEventBus, describeSessionStorage, describeStorage, SESSION_DAMAGES, tamperSessionObject, type Damage } from '@mtstore/conformance/vitest';
import { dumpStore } from './dump.js';
import { MemoryEventChannel, MemorySessionEventBus, MemorySessionStorage, MemoryStorage, MemoryStore } from '../src/index.js';

// One store (and one bus channel) per namespace: instances opened on a namespace share it.
const stores = new Map<string, MemoryStore>();
const channels = new Map<string, InstanceType<typeof MemoryEventChannel>>();
const storeOf = (namespace: string) => stores.get(namespace) ?? stores.set(namespace, new MemoryStore()).get(namespace)!;
const channelOf = (namespace: string) => channels.get(namespace) ?? channels.set(namespace, new MemoryEventChannel()).get(namespace)!;
const cleanup = (namespace: string) => {
  stores.delete(namespace);
  channels.delete(namespace);
};

/** The kit's corrupt hook: a stored permanent key cut to 3 bytes, as a truncated blob would be. */
function corrupt(namespace: string, name: string): void {
  for (const keys of storeOf(namespace).clients.get(name)?.keys.values() ?? []) {
    if (keys.key !== undefined) {
      keys.key = Uint8Array.from([1, 2, 3]);
      return;
    }
  }
  throw new Error(`corrupt: session ${name} has no stored key`);
}

/**
 * The kit's tamper hook: the snapshot objects edited in place. Memory holds validated
 * objects, not rows or files: it plants only the session damages (core's stored-data
 * check sees them on load); its peers and kv values are returned as validated on write
 * (core skips the stored check for this adapter) and it has no schema version or file.
 */
function tamper(namespace: string, name: string, damage: Damage): void {
  tamperSessionObject(storeOf(namespace).clients.get(name)?.snapshot, damage);
}

// No interrupt hook: a memory store has no connection to drop.
describeStorage('memory', {
  open: (namespace, name) => new MemoryStorage({ store: storeOf(namespace), name }),
  cleanup,
  corrupt,
  tamper: { kinds: SESSION_DAMAGES, apply: tamper },
  encryption: {
    open: (namespace, name, encryption) => new MemoryStorage({ store: storeOf(namespace), name, encryption }),
    dump: (namespace) => dumpStore(storeOf(namespace)),
  },
});

describeSessionStorage('memory', {
  open: (namespace) => new MemorySessionStorage({ store: storeOf(namespace) }),
  openWithLifetime: (namespace, lifetime) => new MemorySessionStorage({ store: storeOf(namespace), ...lifetime }),
  cleanup,
});

describeSessionEventBus('memory', {
  open: (namespace) => new MemorySessionEventBus(channelOf(namespace)),
  openStorage: (namespace) => new MemorySessionStorage({ store: storeOf(namespace) }),
  cleanup,
  capabilities: { crossProcess: false },
  // An in-process channel cannot fail by itself: interrupt() holds it down for 100 ms.
  interrupt: (bus) => {
    void (bus as InstanceType<typeof MemorySessionEventBus>).channel.interrupt(100);
  },
});
