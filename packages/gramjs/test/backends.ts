/**
 * The backends every bridge suite runs on: the first-party adapters of
 * ./adapters.ts, each against its real server. Each `create()` opens one namespace
 * (a store, file, schema, prefix, database) and hands out Storage instances by
 * session name: two instances with the same name are two processes sharing one
 * session. An adapter whose server is unreachable gives null (skipped, with a
 * one-line reason) and fails under CI.
 */
import type { Storage } from '@mtstore/core';
import { adapters } from '@mtstore/test-adapters';

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

export const backends: BackendFactory[] = adapters.map((adapter) => ({
  name: adapter.name,
  async create() {
    if (!(await adapter.available())) return null;
    const backend = await adapter.backend();
    return { open: async (name = 'default') => backend.open(name), dispose: () => backend.dispose() };
  },
}));
