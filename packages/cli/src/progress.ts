/**
 * Progress for long copies: a cli-progress bar with counts, rate and ETA on a TTY;
 * plain lines (at most one every 2 seconds, plus the last) when stderr is a pipe or a file.
 */
import cliProgress from 'cli-progress';
import type { Io } from './io.js';
import { noun } from './words.js';

export interface Progress {
  advance(by: number): void;
  /** `total`: the count it came to, when the one given at the start was an estimate. */
  finish(total?: number): void;
}

/** `unit`: the singular ("peer"); the count printed after it says whether an "s" goes with it. */
export function progress(io: Io, label: string, total: number, unit: string): Progress {
  const started = Date.now();
  if (io.stderr.isTTY) {
    const bar = new cliProgress.SingleBar(
      {
        format: `${label} [{bar}] {value}/{total} {unit} | {rate}/s | ETA {eta_formatted}`,
        stream: io.stderr as NodeJS.WriteStream,
        hideCursor: true,
        clearOnComplete: false,
      },
      cliProgress.Presets.shades_classic,
    );
    bar.start(total, 0, { rate: '0', unit: noun(total, unit) });
    let done = 0;
    return {
      advance(by) {
        done += by;
        bar.update(done, { rate: rate(done, started) });
      },
      finish(end) {
        if (end !== undefined) bar.setTotal(end);
        bar.update(done, { rate: rate(done, started), unit: noun(end ?? total, unit) });
        bar.stop();
      },
    };
  }
  let done = 0;
  let lastPrint = 0;
  let count = total;
  // The counts of the line printed last: finish() prints the end only when it says more
  // (a session copied in one page printed "a: 6/6 peers" twice, once by each).
  let printed = '';
  const line = () => {
    const counts = `${done}/${count}`;
    printed = counts;
    io.stderr.write(`${label}: ${counts} ${noun(count, unit)} (${rate(done, started)}/s)\n`);
  };
  return {
    advance(by) {
      done += by;
      if (Date.now() - lastPrint >= 2000) {
        lastPrint = Date.now();
        line();
      }
    },
    finish(end) {
      if (end !== undefined) count = end;
      if (printed !== `${done}/${count}`) line();
    },
  };
}

function rate(done: number, started: number): string {
  const seconds = Math.max((Date.now() - started) / 1000, 0.001);
  return Math.round(done / seconds).toLocaleString('en-US');
}
