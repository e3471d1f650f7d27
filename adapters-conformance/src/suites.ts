/**
 * The three entry points. Each registers one describe block per adapter whose
 * inner blocks are the trait groups; the tests inside read like the spec.
 */
import type { SessionEventBusSuiteOptions, SessionStorageSuiteOptions, StorageSuiteOptions, TestApi } from './api.js';
import { bus } from './traits/bus.js';
import { sessionCache } from './traits/cache.js';
import { lifetime } from './traits/lifetime.js';
import { BusScope, registrar, ServerScope, StorageScope } from './traits/context.js';
import { events, observerIsolation } from './traits/events.js';
import { invalidInput } from './traits/input.js';
import { encryption } from './traits/encryption.js';
import { keyValue } from './traits/kv.js';
import { lease } from './traits/lease.js';
import { authKeys } from './traits/keys.js';
import { peers, peersV2 } from './traits/peers.js';
import { refMessages } from './traits/refs.js';
import { modelV2, names, partialUpdate } from './traits/snapshot.js';
import { secrets } from './traits/secrets.js';
import { crashes, processRaces } from './traits/processes.js';
import { clientModel, serverModel } from './traits/model.js';
import { serverSettling, settling } from './traits/settle.js';
import { lifecycle, races, serverClosing, serverIds, serverInput, serverInstances } from './traits/server.js';
import { busDomain, clientDomain, serverDomain } from './traits/domain.js';
import { clientFaults, serverFaults } from './traits/faults.js';
import { busIsolation, clientStaleness, serverStaleness } from './traits/isolation.js';
import { tamperedData } from './traits/tamper.js';
import { createFalse, serverCreateFalse } from './traits/create.js';
import { tornReads } from './traits/torn.js';
import { removals } from './traits/intact.js';
import { clientNamespaces, serverNamespaces } from './traits/namespaces.js';
import { atomicSave, closing, deletion, ids, roundTrip, twoInstances, updateState } from './traits/storage.js';

/** Client `Storage` + `PeerCache` traits. */
export function describeStorage(t: TestApi, name: string, options: StorageSuiteOptions): void {
  const r = { ...registrar(t, options.cleanup, options.timeout, (scope) => new StorageScope(scope, options)), options };
  t.describe(`${name} · Storage`, () => {
    roundTrip(r);
    ids(r);
    invalidInput(r);
    atomicSave(r);
    updateState(r);
    deletion(r);
    twoInstances(r);
    clientNamespaces(r);
    closing(r);
    secrets(r);
    peers(r);
    modelV2(r);
    partialUpdate(r);
    names(r);
    authKeys(r);
    keyValue(r);
    peersV2(r);
    refMessages(r);
    removals(r);
    settling(r);
    crashes(r);
    clientModel(r);
    clientDomain(r);
    clientStaleness(r);
    tornReads(r);
    clientFaults(r);
    tamperedData(r);
    createFalse(r);
    encryption(r);
    lease(r);
  });
}

/** Server `SessionStorageProtocol` traits, and SessionSubject events over it. */
export function describeSessionStorage(t: TestApi, name: string, options: SessionStorageSuiteOptions): void {
  const r = { ...registrar(t, options.cleanup, options.timeout, (scope) => new ServerScope(scope, options.open, options.openExisting)), options };
  t.describe(`${name} · SessionStorage`, () => {
    lifecycle(r);
    serverIds(r);
    serverInput(r);
    races(r);
    serverInstances(r);
    serverNamespaces(r);
    serverClosing(r);
    serverSettling(r);
    processRaces(r);
    serverModel(r);
    serverDomain(r);
    serverStaleness(r);
    serverFaults(r);
    events(r);
    observerIsolation(r);
    lifetime(r);
    serverCreateFalse(r);
  });
}

/** `SessionEventBus` traits, and two SessionSubjects talking over two buses. */
export function describeSessionEventBus(t: TestApi, name: string, options: SessionEventBusSuiteOptions): void {
  const r = { ...registrar(t, options.cleanup, options.timeout, (scope) => new BusScope(scope, options)), options };
  t.describe(`${name} · SessionEventBus`, () => {
    bus(r);
    busDomain(r);
    busIsolation(r);
    sessionCache(r);
  });
}
