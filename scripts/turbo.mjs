#!/usr/bin/env node
// Runs the workspace's turbo with its anonymous telemetry switched off. The root
// scripts go through here because this project's machines must never send traffic
// beyond loopback, and turbo otherwise phones home on first use.
//   node scripts/turbo.mjs run build --filter=@mtstore/sqlite...
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { root } from './workspaces.mjs';

export const quietEnv = { ...process.env, TURBO_TELEMETRY_DISABLED: '1', DO_NOT_TRACK: '1' };

/** Runs turbo with `args`; returns the exit status. */
export function turbo(args, options = {}) {
  const bin = createRequire(import.meta.url).resolve('turbo/bin/turbo');
  const result = spawnSync(process.execPath, [bin, ...args], { cwd: root, stdio: 'inherit', env: quietEnv, ...options });
  return result.status ?? 1;
}

if (process.argv[1] === new URL(import.meta.url).pathname) process.exit(turbo(process.argv.slice(2)));
