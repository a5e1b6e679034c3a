// How many file descriptors the server may still open: every connection
// takes one, and a server whose --max-clients is above what `ulimit -n`
// allows runs out in the middle of a burst, when accepting fails.
//
// The server cannot ask the limit directly: Deno reads /proc/self/limits
// and /proc/self/fd only with every permission, and running `ulimit` needs
// --allow-run. It counts instead, by opening /dev/null (allowed by
// --allow-read) until the open fails or enough are open, then closing them
// all, and one open a second while it listens (server.ts). The count opens
// plain integer descriptors (node:fs), not Deno.FsFile objects: at
// --max-clients 20000 the server's malloc heap kept 3 MiB after counting
// instead of 7 (issue 15), and the count took 240 instead of 340 ms.

import { closeSync, constants, openSync } from "node:fs";

/**
 * Descriptors kept free for everything that is not a connection: the log
 * and its lock, Redis, certificates read, a refused connection on its way
 * out, the listener itself.
 */
export const FD_RESERVE = 32;

const NULL_DEVICE = "/dev/null";

/**
 * How many more descriptors this process can open now, counting up to
 * `max`; undefined where it cannot tell (no /dev/null, or no permission to
 * read it).
 *
 * @example
 * ```ts
 * const free = freeDescriptors(10_000 + FD_RESERVE); // 10032, or fewer under a low ulimit -n
 * ```
 */
export function freeDescriptors(max: number): number | undefined {
  const opened: number[] = [];
  try {
    while (opened.length < max) opened.push(openSync(NULL_DEVICE, constants.O_RDONLY));
  } catch (error) {
    if (!isOutOfDescriptors(error)) return undefined;
  } finally {
    for (const fd of opened) closeSync(fd);
  }
  return opened.length;
}

/** True when this error says the process (or system) is out of file descriptors. */
export function isOutOfDescriptors(error: unknown): boolean {
  return /\b(EMFILE|ENFILE)\b|Too many open files|os error 2[34]\b/.test(String(error));
}

/**
 * The reason the process cannot open a descriptor right now, or undefined
 * when it can (or cannot tell): what accepting a connection would meet.
 */
export function descriptorShortage(): string | undefined {
  try {
    Deno.openSync(NULL_DEVICE).close();
    return undefined;
  } catch (error) {
    if (!isOutOfDescriptors(error)) return undefined;
    return String((error as Error).message).replace(/: open '[^']*'$/, "");
  }
}
