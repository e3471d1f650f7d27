/**
 * The kit bound to vitest for the conformance files, with the lease traits that wait out
 * a lease's TTL in this process run side by side. One after another they are ~15 s of
 * sleeping per driver (2-4 s leases, run out and renewed by the clock: 1.5-7 s each, a
 * third of each file's session lease group); side by side, about the longest of them.
 *
 * They are independent as every kit test is (a namespace of their own, instances they
 * open and close, a cleanup after), they check nothing about each other's timing, and
 * in this process they mostly sleep, so their timers are not late for it. They run
 * alone: vitest runs a run of consecutive concurrent tests as a group, after the tests
 * before them and before the ones after. None of them is a trait that sees a store come
 * into being (drivers.ts CREATION_TRAITS, which finds the running test by vitest's
 * current test name: with tests side by side it is any of theirs). The lease traits with
 * worker processes stay one at a time: five processes importing TypeORM at once, twice,
 * took a loaded machine past the kit's times to connect.
 *
 * A trait the kit renames here runs one at a time again: slower, checking the same.
 */
import type { TestApi } from '@mtstore/conformance';
import { vitestApi } from '@mtstore/conformance/vitest';
import { it } from 'vitest';

/** By the kit's test names (adapters-conformance/src/traits/lease.ts), consecutive there. */
const SIDE_BY_SIDE: readonly string[] = [
  'acquire with wait takes the lease when the holder releases it',
  'a lease that is not renewed runs out after its TTL and not before; the heartbeat keeps one alive',
  'holder() answers null once the lease ran out',
  'writes under a lease that ran out are rejected with LeaseLostError and not applied',
  'a holder past ¾ of its TTL by its own clock has lost the lease for good: writes and renew() reject, onLost once, acquire takes a new one',
];

export const kitApi: TestApi = {
  ...vitestApi,
  it: (name, body, timeout) => (SIDE_BY_SIDE.includes(name) ? it.concurrent : it)(name, body, timeout),
};
