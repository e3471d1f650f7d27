/**
 * The backends every bridge suite runs on. Each factory opens one namespace (a
 * store, schema, prefix…) and hands out Storage instances by session name: two
 * instances with the same name are two processes sharing one session. A backend
 * whose server is unreachable is skipped with a one-line reason, and fails under CI.
 */
import type { Storage } from '@mtstore/core';
import { MemoryStorage, MemoryStore } from '@mtstore/memory';

export interface Backend {
  /** A new Storage instance for session `name` (default `default`). */
  open(name?: string): Promise<Storage>;
  /** Closes what open() opened and removes the namespace. */
  dispose(): Promise<void>;
}

export interface BackendFactory {
  name: string;
  /** Null with the reason printed when the server is unreachable (outside CI). */
  create(): Promise<Backend | null>;
}

/** Closes every Storage the backend handed out, then runs `drop`. */
function tracking(openStorage: (name: string) => Promise<Storage>, drop: () => Promise<void> = async () => {}): Backend {
  const opened: Storage[] = [];
  return {
    async open(name = 'default') {
      const storage = await openStorage(name);
      opened.push(storage);
      return storage;
    },
    async dispose() {
      for (const storage of opened) await storage.close();
      await drop();
    },
  };
}

export const memory: BackendFactory = {
  name: 'memory',
  async create() {
    const store = new MemoryStore();
    return tracking(async (name) => new MemoryStorage({ store, name }));
  },
};

export const backends: BackendFactory[] = [memory];
