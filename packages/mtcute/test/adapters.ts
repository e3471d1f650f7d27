/**
 * The mtstore adapters the bridge is tested over, each against its real server.
 * A factory whose server is unreachable is skipped locally with a one-line reason
 * and fails under CI=true.
 */
import type { Storage } from '@mtstore/core';
import { MemoryStorage, MemoryStore } from '@mtstore/memory';

export interface AdapterCase {
  name: string;
  /** A fresh, empty backend; `open(name)` opens a session on it (several may share it). */
  backend(): Promise<Backend>;
}

export interface Backend {
  open(name: string): Storage;
  /** Releases what the backend holds (sessions opened on it are closed by their users). */
  dispose(): Promise<void>;
}

export const adapters: AdapterCase[] = [
  {
    name: 'memory',
    async backend() {
      const store = new MemoryStore();
      return { open: (name) => new MemoryStorage({ store, name }), dispose: async () => undefined };
    },
  },
];
