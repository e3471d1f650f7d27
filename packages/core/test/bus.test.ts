import { spawn } from 'node:child_process';
import { connect, type Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
// By path, as the adapters' bus tests import it (test-adapters depends on core).
import { stallAfterTimers } from '../../test-adapters/src/stall.js';
import { CorruptDataError, decodeSessionEvent, encodeSessionEvent, heartbeatJudge, InvalidArgumentError, type SessionEvent } from '../src/index.js';

describe('session events on the wire', () => {
  it('round-trip every extreme id as decimal strings, ids only', () => {
    for (const id of [-(2n ** 63n), -1n, 0n, 2n ** 53n + 1n, 2n ** 63n - 1n]) {
      const event: SessionEvent = { type: 'destroyed', authKeyId: id, sessionId: -(id + 1n), origin: 'node' };
      const text = encodeSessionEvent(event);
      expect(text).toContain(`"a":"${id}"`);
      expect(decodeSessionEvent(text)).toEqual(event);
    }
  });

  it('encode writes what JSON.stringify writes of the wire object, whatever the origin, one origin after another', () => {
    const origins = ['node', 'node', 'quote " and \\ backslash', '\u2028 line sep, \u0001 control, é, 😀', 'node', 'x'.repeat(200)];
    for (const [i, origin] of origins.entries()) {
      const created: SessionEvent = { type: 'created', authKeyId: BigInt(i) - 5n, sessionId: 2n ** 63n - 1n - BigInt(i), origin };
      const expired: SessionEvent = { ...created, type: 'destroyed', reason: 'expired' };
      const explicit: SessionEvent = { ...created, type: 'destroyed', reason: 'explicit' };
      expect(encodeSessionEvent(created)).toBe(JSON.stringify({ t: 'c', a: String(created.authKeyId), s: String(created.sessionId), o: origin }));
      expect(encodeSessionEvent(expired)).toBe(JSON.stringify({ t: 'd', a: String(created.authKeyId), s: String(created.sessionId), o: origin, r: 'x' }));
      expect(encodeSessionEvent(explicit)).toBe(JSON.stringify({ t: 'd', a: String(created.authKeyId), s: String(created.sessionId), o: origin, r: 'e' }));
      expect(decodeSessionEvent(encodeSessionEvent(explicit))).toEqual(explicit);
    }
  });

  it('decode reads every text as JSON.parse and the checks do: the same event, or CorruptDataError', () => {
    /** decodeSessionEvent as it was, JSON.parse then each check: the reference. */
    const reference = (text: string): SessionEvent | 'corrupt' => {
      let wire: Record<string, unknown>;
      try {
        wire = JSON.parse(text) as Record<string, unknown>;
      } catch {
        return 'corrupt';
      }
      if (typeof wire !== 'object' || wire === null || (wire.t !== 'c' && wire.t !== 'd')) return 'corrupt';
      const ids = [wire.a, wire.s];
      if (!ids.every((id) => typeof id === 'string' && /^-?\d{1,19}$/.test(id) && BigInt(id) >= -(2n ** 63n) && BigInt(id) < 2n ** 63n)) return 'corrupt';
      if (typeof wire.o !== 'string' || wire.o.length === 0 || wire.o.length > 200) return 'corrupt';
      if (wire.r !== undefined && (wire.t !== 'd' || (wire.r !== 'e' && wire.r !== 'x'))) return 'corrupt';
      const event: SessionEvent = { type: wire.t === 'c' ? 'created' : 'destroyed', authKeyId: BigInt(wire.a as string), sessionId: BigInt(wire.s as string), origin: wire.o };
      if (wire.r !== undefined) event.reason = wire.r === 'x' ? 'expired' : 'explicit';
      return event;
    };
    const origins = ['n', 'x'.repeat(200), 'x'.repeat(201), '', 'a\u0001b', 'a\u001fb', 'a\u007fb', 'a\ud800b', 'é😀', 'a\\"b', 'a\\\\b', 'a\\u0041b', 'a\\nb'];
    const ids = ['0', '-0', '007', '-1', '9223372036854775807', '9223372036854775808', '-9223372036854775808', '-9223372036854775809', '99999999999999999999', '1e3', '+1', ''];
    const texts: string[] = [];
    for (const o of origins) for (const r of ['', ',"r":"e"', ',"r":"x"', ',"r":"q"']) for (const t of ['c', 'd', 'x']) texts.push(`{"t":"${t}","a":"12","s":"-34","o":"${o}"${r}}`);
    for (const a of ids) for (const s of ['5', a]) texts.push(`{"t":"d","a":"${a}","s":"${s}","o":"n","r":"x"}`);
    texts.push('{"t":"c", "a":"1","s":"2","o":"n"}', '{"a":"1","t":"c","s":"2","o":"n"}', '{"t":"c","a":"1","s":"2","o":"n"} ', '{"t":"c","a":"1","s":"2","o":"n","o":"m"}', '{"t":"c","a":"1","s":"2","o":"n"}x', '{"t":"c","a":1,"s":"2","o":"n"}');
    for (const text of texts) {
      const expected = reference(text);
      if (expected === 'corrupt') expect(() => decodeSessionEvent(text), text).toThrow(CorruptDataError);
      else expect(decodeSessionEvent(text), text).toStrictEqual(expected);
    }
  });

  it('encoding an invalid event is InvalidArgumentError; decoding garbage is CorruptDataError', () => {
    expect(() => encodeSessionEvent({ type: 'created', authKeyId: 1 as unknown as bigint, sessionId: 1n, origin: 'x' })).toThrow(InvalidArgumentError);
    for (const garbage of ['', 'null', '{}', '{"t":"c","a":"1","s":"1"}', '{"t":"x","a":"1","s":"1","o":"n"}', '{"t":"c","a":"1e3","s":"1","o":"n"}', '{"t":"c","a":"99999999999999999999","s":"1","o":"n"}']) {
      expect(() => decodeSessionEvent(garbage), garbage).toThrow(CorruptDataError);
    }
  });
});

/**
 * A peer in another process, as a database server is: `echo` answers every byte with
 * one byte, `mute` accepts and reads but never answers (a link that went dark). Its
 * answers are read only in a poll phase of this process's event loop.
 */
async function peerProcess(kind: 'echo' | 'mute'): Promise<{ socket: Socket; close(): void }> {
  const code = `const net = require('node:net');
    // 'error' handled: close() resets the link while the echo may still be writing, and an
    // unhandled ECONNRESET printed a crash of this child into the test output (CI log).
    const server = net.createServer((s) => s.on('error', () => {}).on('data', (d) => { if (${kind === 'echo'}) s.write(d); }));
    server.listen(0, '127.0.0.1', () => process.stdout.write(String(server.address().port) + '\\n'));`;
  const child = spawn(process.execPath, ['-e', code], { stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout.once('data', (data: Buffer) => resolve(Number(data.toString().trim())));
    child.once('error', reject);
  });
  const socket = connect(port, '127.0.0.1');
  await new Promise((resolve) => socket.once('connect', resolve));
  return {
    socket,
    close() {
      socket.destroy();
      child.kill();
    },
  };
}

/**
 * A bus's heartbeat as the Redis and PostgreSQL buses run one: a timer of `interval`
 * ms; each tick hands the answers counted so far to the judge, then asks again (`ask`
 * sends the question, now or later as the driver does). Records the verdicts.
 */
function heartbeat(socket: Socket, interval: number, ask: (send: () => void) => void): { verdicts: boolean[]; stop(): void } {
  let answers = 0;
  socket.on('data', (data: Buffer) => {
    answers += data.length;
  });
  const judge = heartbeatJudge(interval);
  const verdicts: boolean[] = [];
  const timer = setInterval(() => {
    verdicts.push(judge.silent(answers));
    ask(() => socket.write('?'));
  }, interval);
  return { verdicts, stop: () => clearInterval(timer) };
}

/**
 * The verdicts of a heartbeat (interval 100 ms) on a connection to an `echo` or `mute`
 * peer over `forMs`, while the application blocks its loop for `stallMs` right after
 * every tick (test-adapters' stallAfterTimers), or never (`stallMs` 0).
 */
async function verdictsOf(kind: 'echo' | 'mute', ask: (send: () => void) => void, stallMs: number, forMs: number): Promise<boolean[]> {
  const peer = await peerProcess(kind);
  // Made before the stalls' timer, same interval: the stalls come right after each of its ticks.
  const beat = heartbeat(peer.socket, 100, ask);
  try {
    if (stallMs > 0) await stallAfterTimers(100, stallMs, forMs);
    else await new Promise((resolve) => setTimeout(resolve, forMs));
  } finally {
    beat.stop();
    peer.close();
  }
  return beat.verdicts;
}

/** Blocks the event loop for `ms`. */
function block(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until) {
    // the application's long synchronous task
  }
}

describe('heartbeatJudge', () => {
  it('on time, a tick without progress since the one before is silence; one with progress is not', () => {
    const judge = heartbeatJudge(1_000);
    expect(judge.silent(0), 'the first tick has nothing to compare with').toBe(false);
    expect(judge.silent(1)).toBe(false);
    expect(judge.silent(1)).toBe(true);
    judge.reset();
    expect(judge.silent(1), 'after reset: nothing to compare with').toBe(false);
    expect(judge.silent(1)).toBe(true);
  });

  it('late (the loop was blocked), a tick without progress is silence only when the tick before found none either', () => {
    const judge = heartbeatJudge(100);
    judge.silent(0);
    block(200);
    expect(judge.silent(0), 'late, first without progress').toBe(false);
    block(200);
    expect(judge.silent(1), 'late, progress').toBe(false);
    block(200);
    expect(judge.silent(1), 'late, first without progress again').toBe(false);
    block(200);
    expect(judge.silent(1), 'late, second without progress in a row').toBe(true);
    judge.reset();
    judge.silent(5);
    block(200);
    expect(judge.silent(5), 'late after reset').toBe(false);
    // On time after a late tick without progress: silence.
    expect(judge.silent(5)).toBe(true);
  });

  for (const [how, ask] of [
    ['sent at once', (send: () => void) => send()],
    ['sent from setImmediate, as ioredis auto-pipelining does', (send: () => void) => void setImmediate(send)],
  ] as const) {
    it(`an application that blocks its loop for three intervals right after every tick keeps a connection that answers (questions ${how})`, async () => {
      const verdicts = await verdictsOf('echo', ask, 300, 2_000);
      expect(verdicts.length).toBeGreaterThanOrEqual(4);
      expect(verdicts, 'ticks that took a connection that answered every question as dead').not.toContain(true);
    });
  }

  it('the same application finds a connection that answers nothing, within two of its late ticks', async () => {
    const verdicts = await verdictsOf('mute', (send) => send(), 300, 1_500);
    // Tick 1 has nothing to compare with, tick 2 is late and the first without progress.
    expect(verdicts.indexOf(true)).toBe(2);
  });

  it('without stalls, a connection that answers nothing is found at the first tick that can compare', async () => {
    const verdicts = await verdictsOf('mute', (send) => send(), 0, 350);
    expect(verdicts.slice(0, 2)).toEqual([false, true]);
  });
});
