import { redactUrl } from '@mtstore/core';

export { redactUrl };

/**
 * Reaching test servers the way the design asks (§8): with `CI=true` an unreachable
 * server is a failure, never a skip; locally it is a skip with a one-line reason.
 */

export interface ServerCheck {
  /** True when the test file should run against the server. */
  available: boolean;
  /** Why not, when not. */
  reason?: string | undefined;
}

/**
 * Runs `probe` (connect and ping, with a short timeout) and reports whether the
 * server is there. With `CI=true` a failed probe throws, failing the test file.
 */
export async function checkServer(name: string, url: string, probe: () => Promise<unknown>): Promise<ServerCheck> {
  try {
    await probe();
    return { available: true };
  } catch (error) {
    const reason = `${name} is not reachable at ${redactUrl(url)}: ${error instanceof Error ? error.message : String(error)}`;
    if (isCI()) throw new Error(`${reason} (CI=true: a missing server is a failure, not a skip)`);
    console.warn(`skipping ${name} tests: ${reason}`);
    return { available: false, reason };
  }
}

export function isCI(): boolean {
  const ci = process.env.CI;
  return ci !== undefined && ci !== '' && ci !== '0' && ci.toLowerCase() !== 'false';
}
