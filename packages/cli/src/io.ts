/** Where a command writes: data on stdout, everything for the human on stderr. */
export interface Io {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream & { isTTY?: boolean | undefined; columns?: number | undefined };
  /** Read when the session is given as `-`; absent: nothing to read. */
  stdin?: (NodeJS.ReadableStream & { isTTY?: boolean | undefined }) | undefined;
}

export const processIo: Io = { stdout: process.stdout, stderr: process.stderr, stdin: process.stdin };

export function say(io: Io, line: string): void {
  io.stderr.write(`${line}\n`);
}
