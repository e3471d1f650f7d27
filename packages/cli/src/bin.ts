#!/usr/bin/env node
import { run } from './program.js';

// `mtstore inspect … | head`: once the reader has gone, what is left to print has no
// one to read it. Stop quietly, as other command-line tools do, instead of dying on
// an unhandled EPIPE with a stack trace.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw error;
  });
}

void run(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
});
