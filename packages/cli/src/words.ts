/**
 * Counts as the summaries print them: "1 session", "2 sessions", "0 sessions". The
 * summaries said "1 reference messages" and "1 sessions" wherever a count could be one.
 */

/** The noun for `n` of it: `singular` for exactly one, else `plural` (an "s" added unless given). */
export function noun(n: number, singular: string, plural = `${singular}s`): string {
  return n === 1 ? singular : plural;
}

/** `n` and its noun: "1 peer", "3 peers", "1 kv entry". */
export function counted(n: number, singular: string, plural?: string): string {
  return `${n} ${noun(n, singular, plural)}`;
}
