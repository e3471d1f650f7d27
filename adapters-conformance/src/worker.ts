/**
 * The kit's worker process: `node worker.js '<json job>'`. It imports the adapter
 * author's module (`processes.module`), opens an instance there — a real second
 * process, so synchronous drivers and per-process locks really interleave — and runs
 * one job, reporting on stdout one JSON line per step. The parent (processes.ts)
 * starts jobs together with a `go` line on stdin, and may SIGKILL a worker mid-job.
 */
import { createInterface } from 'node:readline';
import { pathToFileURL } from 'node:url';
import type { SessionStorageProtocol, Storage } from '@mtstore/core';
import { FIRST_WRITE_PEERS, firstWriteKey, roundPeer } from './fixtures.js';

export interface WorkerJob {
  module: string;
  namespace: string;
  name?: string;
  kind: 'race' | 'upsert-loop' | 'state-loop' | 'lease-race' | 'lease-hold' | 'first-write';
  /** race: concurrent calls in this process, per round (create, then destroy). */
  callers?: number;
  /** lease-race / lease-hold: the lease's TTL. */
  ttlSeconds?: number;
  /** lease-race: races, one after another (each round's winner releases before the next). Default 1. */
  rounds?: number;
}

interface WorkerModule {
  openStorage?(namespace: string, name: string): Storage | Promise<Storage>;
  openSessionStorage?(namespace: string): SessionStorageProtocol | Promise<SessionStorageProtocol>;
}

const send = (message: Record<string, unknown>): void => {
  process.stdout.write(`${JSON.stringify(message)}\n`);
};


// One reader of stdin for the whole job: a race waits for `go` twice.
let stdinLines: AsyncIterator<string> | undefined;

async function waitForGo(): Promise<void> {
  stdinLines ??= createInterface({ input: process.stdin })[Symbol.asyncIterator]();
  for (;;) {
    const next = await stdinLines.next();
    if (next.done === true) throw new Error('stdin closed before go');
    if (next.value.trim() === 'go') return;
  }
}

/**
 * Returns at the next 50 ms mark of the wall clock at least 20 ms away, which every
 * process of the machine reaches in the same millisecond: `go` reaches the workers one
 * pipe after another, and racers set off that far apart rarely meet in a short critical
 * section. Spins (at most 70 ms), so no timer's lateness spreads them again.
 */
function startTogether(): number {
  const at = Math.ceil((Date.now() + 20) / 50) * 50;
  let spins = 0;
  // The count goes into the worker's message: a loop whose result nobody reads is dropped by the bundler's tree-shaking.
  while (Date.now() < at) spins++;
  return spins;
}

async function main(): Promise<void> {
  const job = JSON.parse(process.argv[2] ?? '{}') as WorkerJob;
  const module = (await import(job.module.startsWith('file:') ? job.module : pathToFileURL(job.module).href)) as WorkerModule;
  if (job.kind === 'race') {
    if (module.openSessionStorage === undefined) throw new Error(`${job.module} exports no openSessionStorage(namespace)`);
    const storage = await module.openSessionStorage(job.namespace);
    await storage.hasSession(0n, 0n); // connected before the start line
    send({ ready: true });
    // Two rounds in one process (starting a process costs more than the race itself):
    // the parent checks the create round's outcome before it starts the destroy round.
    for (const round of ['create', 'destroy'] as const) {
      await waitForGo();
      const calls = Array.from({ length: job.callers ?? 10 }, () => (round === 'create' ? storage.createSession(42n, 7n) : storage.destroySession(42n, 7n)));
      const results = await Promise.all(calls);
      send({ round, results });
    }
    await storage.close();
    return;
  }
  if (module.openStorage === undefined) throw new Error(`${job.module} exports no openStorage(namespace, name)`);
  const storage = await module.openStorage(job.namespace, job.name ?? 'main');
  if (job.kind === 'lease-race' || job.kind === 'lease-hold') {
    await storage.lease.holder(); // connected before the start line
    send({ ready: true });
    // Several races in one process (one is a coin toss for an acquire that is not atomic
    // across processes: a read-then-write of the lease passed it about half the time).
    // Each takes the lease (heartbeat on); a round's winner releases it on the next `go`
    // before the next round, and holds the last one until killed.
    const rounds = job.kind === 'lease-race' ? (job.rounds ?? 1) : 1;
    for (let round = 1; round <= rounds; round++) {
      await waitForGo();
      const spins = job.kind === 'lease-race' ? startTogether() : 0;
      try {
        await storage.lease.acquire({ ttlSeconds: job.ttlSeconds ?? 20, owner: { label: `worker ${process.pid}` } });
        send({ round, won: true, pid: process.pid, spins });
        if (round < rounds) {
          await waitForGo();
          await storage.lease.release();
          send({ round, released: true });
        }
      } catch (error) {
        const holder = (error as { holder?: { owner: { pid: number } } }).holder;
        if (holder === undefined) throw error;
        send({ round, won: false, pid: process.pid, holderPid: holder.owner.pid, spins });
      }
    }
    await new Promise(() => setInterval(() => undefined, 60_000));
    return;
  }
  send({ ready: true });
  if (job.kind === 'first-write') {
    // Nothing touched the namespace before `go` (an adapter connects and creates its
    // schema on first use): every worker's first write is also its first open of the store.
    await waitForGo();
    await storage.peers.upsert(Array.from({ length: FIRST_WRITE_PEERS }, (_, k) => roundPeer(1, k)));
    await storage.authKeys.set(2, firstWriteKey(job.name ?? 'main'));
    send({ done: true });
    await storage.close();
    return;
  }
  // Loops until killed; every ack is sent only after the write's promise resolved.
  for (let round = 1; ; round++) {
    if (job.kind === 'upsert-loop') await storage.peers.upsert(Array.from({ length: 50 }, (_, k) => roundPeer(round, k)));
    else await storage.saveUpdateState({ pts: round, qts: round, date: round, seq: round }, [{ id: 1n, pts: round }]);
    send({ ack: round });
  }
}

main().catch((error: unknown) => {
  send({ error: error instanceof Error ? `${error.name}: ${error.message}` : String(error) });
  process.exit(1);
});
