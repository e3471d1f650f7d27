/**
 * How the repositories report a write they drop at `save()` because mtstore can never
 * store it (core rejects it with InvalidArgumentError whatever is retried): kept
 * pending, it would fail that save and every later one — and with them every mtcute
 * API call that caches peers (mtcute awaits the save) — while nothing pending after
 * it is ever written. The driver logs it on mtcute's logger (tag `mtstore`, level
 * warn), as it reports its other failures; `message` is core's secret-free error
 * message, naming the entry (`peers[id 42].updatedAt must be …`).
 */
export type ReportDropped = (message: string) => void;
