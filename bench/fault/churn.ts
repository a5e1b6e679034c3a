// Churn: many short connections against a real server process, shared by
// tests/fault/churn_test.ts (about a thousand cycles) and bench/soak.ts (ten
// thousand). Each cycle is one of: connect, log in, close politely (most of
// them); log in and half-close; a TLS connection that closes without a login;
// a TCP connection that closes without a handshake. Afterwards the server's
// open file descriptors must be back where they started, and its memory flat.

import { LineClient } from "./line_client.ts";
import { sleep } from "../../lib/deadline.ts";
import { eventually, pool } from "./schedule.ts";
import type { ServerProcess } from "./server_process.ts";

/** How many cycles, how many at once, and how often to sample the server. */
export interface ChurnOptions {
  cycles: number;
  concurrency: number;
  /** Cycles before the baseline is taken (the runtime warms up). */
  warmup: number;
  /** Samples of fd count and memory taken during the run (besides start and end). */
  samples: number;
}

/** One sample of the server's resources. */
export interface ResourceSample {
  cycles: number;
  fds: number;
  rssKiB: number;
}

/** What the churn did and what it left behind. */
export interface ChurnFigures {
  cycles: number;
  seconds: number;
  /** Cycles that failed on the client's side (a refused login, an error). */
  failures: number;
  /** After the warm-up, during the run, and at the end (all connections closed). */
  samples: ResourceSample[];
  /** Connections the server logged as opened and as closed. */
  connects: number;
  disconnects: number;
}

const PLAIN_CLOSE = 7; // of every 10 cycles

async function cycle(server: ServerProcess, i: number): Promise<void> {
  const kind = i % 10;
  if (kind === 9) {
    const tcp = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
    tcp.close();
    return;
  }
  if (kind === 8) {
    const client = await LineClient.connect(server);
    await client.close();
    return;
  }
  const client = await LineClient.login(server, `churn-${i}`);
  if (kind < PLAIN_CLOSE) {
    await client.close();
    return;
  }
  await client.conn.closeWrite();
  const closed = await client.closedByServer(5000);
  await client.close();
  if (!closed) throw new Error("the server did not close a half-closed connection");
}

function count(text: string, pattern: RegExp): number {
  return text.match(pattern)?.length ?? 0;
}

/** Waits until the server has logged a disconnect for every connect. */
export async function quiesce(server: ServerProcess, timeoutMs = 10_000): Promise<boolean> {
  return await eventually(
    () => count(server.stderr, / connect peer=/g) === count(server.stderr, / disconnect peer=/g),
    timeoutMs,
  );
}

async function sample(server: ServerProcess, cycles: number): Promise<ResourceSample> {
  await quiesce(server);
  await sleep(200);
  return { cycles, fds: await server.fdCount(), rssKiB: await server.rssKiB() };
}

/** Runs the churn against `server` and returns its figures. */
export async function runChurn(
  server: ServerProcess,
  options: ChurnOptions,
): Promise<ChurnFigures> {
  let failures = 0;
  const run = (from: number, to: number) =>
    pool(to - from, options.concurrency, async (k) => {
      try {
        await cycle(server, from + k);
      } catch {
        failures++;
      }
    });
  await run(0, options.warmup);
  const samples = [await sample(server, 0)];
  const started = performance.now();
  const step = Math.ceil(options.cycles / Math.max(1, options.samples + 1));
  for (let done = 0; done < options.cycles;) {
    const to = Math.min(options.cycles, done + step);
    await run(options.warmup + done, options.warmup + to);
    done = to;
    if (done < options.cycles) samples.push(await sample(server, done));
  }
  const seconds = (performance.now() - started) / 1000;
  samples.push(await sample(server, options.cycles));
  return {
    cycles: options.cycles,
    seconds,
    failures,
    samples,
    connects: count(server.stderr, / connect peer=/g),
    disconnects: count(server.stderr, / disconnect peer=/g),
  };
}
