// Slow readers: clients that log in and never read a byte while others chat,
// shared by tests/fault/slow_readers_test.ts (CI-sized) and bench/soak.ts.
//
// A run starts a fresh server process, logs in `idlers` clients that never
// read, then `chatters` clients that each send `perChatter` messages of
// `messageBytes` at `ratePerSecond` and read everything the others send. Each
// message carries the moment it was sent (all clients live in this process,
// so one clock serves), and every delivery's delay is recorded. The idlers
// fill their socket buffers and then their send queue, and are cut off
// ("send queue full"); the chatters must not notice. The server's resident
// memory is sampled throughout.

import { type Latency, latency } from "./latency.ts";
import { LineClient } from "./line_client.ts";
import { sleep } from "../../lib/deadline.ts";
import { eventually } from "./schedule.ts";
import { ServerProcess } from "./server_process.ts";

/** The size of a run. */
export interface SlowReadersOptions {
  /** Clients that never read. */
  idlers: number;
  /** Clients that send and read. */
  chatters: number;
  perChatter: number;
  ratePerSecond: number;
  messageBytes: number;
  /** --send-queue-bytes of the server. */
  sendQueueBytes: number;
  /** Extra `deno run` flags for the server (a heap cap, say). */
  denoFlags?: string[];
}

/** What a run measured. */
export interface SlowReadersFigures {
  idlers: number;
  /** Idlers the server cut off for a full send queue. */
  cut: number;
  chatters: number;
  /** Messages sent, and deliveries expected and seen (each message reaches every other chatter). */
  sent: number;
  expected: number;
  delivered: number;
  /** Deliveries out of order, or duplicated (must be 0). */
  disorder: number;
  /** Delay from send to receipt over all deliveries. */
  delay: Latency;
  seconds: number;
  /** Server RSS before the idlers logged in, and the highest seen during the run (KiB). */
  rssStartKiB: number;
  rssPeakKiB: number;
  /** Bytes of chat the server stored (each idler is owed all of it). */
  storedBytes: number;
}

const encoder = new TextEncoder();

/** Runs one slow-readers experiment in `dir` against a fresh server process. */
export async function runSlowReaders(
  dir: string,
  options: SlowReadersOptions,
): Promise<SlowReadersFigures> {
  await using server = await ServerProcess.start({
    dir,
    args: [
      "--rate-limit",
      "0",
      "--max-per-ip",
      "10000",
      "--send-queue-bytes",
      String(options.sendQueueBytes),
    ],
    denoFlags: options.denoFlags,
  });
  const rssStartKiB = await server.rssKiB();
  let rssPeakKiB = rssStartKiB;
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      rssPeakKiB = Math.max(rssPeakKiB, await server.rssKiB().catch(() => 0));
      await sleep(50);
    }
  })();

  // The idlers: log in, then never read.
  const idlers: Deno.TlsConn[] = [];
  try {
    for (let i = 0; i < options.idlers; i++) {
      const tcp = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
      const conn = await Deno.startTls(tcp, { hostname: "localhost", caCerts: [server.certPem] });
      idlers.push(conn);
      await conn.write(
        encoder.encode(JSON.stringify({ command: "login", nickname: `idle-${i}` }) + "\n"),
      );
    }
    await eventually(
      () => count(server.stderr, / login peer=\S+ nick=idle-/g) === options.idlers,
      10_000,
    );

    const chatters = await Promise.all(
      Array.from({ length: options.chatters }, (_, k) => LineClient.login(server, `chat-${k}`)),
    );
    const delays: number[] = [];
    let delivered = 0, disorder = 0;
    for (const [k, client] of chatters.entries()) {
      const last = new Map<string, number>();
      client.onLine = (line, at) => {
        const frame = JSON.parse(line);
        if (typeof frame.message !== "string") return;
        const [from, n, sentAt] = frame.message.split(" ", 3);
        delivered++;
        delays.push(at - Number(sentAt));
        if (Number(n) !== (last.get(from) ?? -1) + 1 || from === `chat-${k}`) disorder++;
        last.set(from, Number(n));
      };
    }
    const pad = "x".repeat(Math.max(0, options.messageBytes - 40));
    const started = performance.now();
    const gap = 1000 / options.ratePerSecond;
    await Promise.all(chatters.map(async (client, k) => {
      // Staggered, and paced by a schedule rather than by sleeps, so a late wake-up is caught up.
      const offset = (gap * k) / options.chatters;
      for (let n = 0; n < options.perChatter; n++) {
        const due = started + offset + n * gap;
        const wait = due - performance.now();
        if (wait > 0) await sleep(wait);
        await client.send({ message: `chat-${k} ${n} ${performance.now()} ${pad}` });
      }
    }));
    const sent = options.chatters * options.perChatter;
    const expected = sent * (options.chatters - 1);
    await eventually(() => delivered >= expected, 20_000);
    const seconds = (performance.now() - started) / 1000;
    await eventually(
      () => count(server.stderr, /nick=idle-\d+ reason="send queue full"/g) >= options.idlers,
      5000,
    );
    for (const client of chatters) await client.close();
    sampling = false;
    await sampler;
    return {
      idlers: options.idlers,
      cut: count(server.stderr, /nick=idle-\d+ reason="send queue full"/g),
      chatters: options.chatters,
      sent,
      expected,
      delivered,
      disorder,
      delay: latency(delays),
      seconds,
      rssStartKiB,
      rssPeakKiB,
      storedBytes: sent * (options.messageBytes + 80),
    };
  } finally {
    sampling = false;
    await sampler;
    for (const conn of idlers) {
      try {
        conn.close();
      } catch {
        // The server cut it, and it is gone already.
      }
    }
  }
}

function count(text: string, pattern: RegExp): number {
  return text.match(pattern)?.length ?? 0;
}
