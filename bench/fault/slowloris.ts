// Slowloris: connections that hold a slot without ever becoming a client,
// shared by tests/fault/slowloris_test.ts (in-process, short deadlines) and
// bench/soak.ts (a real process, the 10 s handshake deadline, one byte a
// second).
//
// Five kinds, `perKind` of each, all at once:
// - "silent": TCP only, not a byte sent (cut at the TLS handshake deadline);
// - "half hello": the first 6 bytes of a ClientHello, then nothing (same);
// - "drip hello": a real ClientHello, one byte per `dripMs` (same);
// - "no login": a finished handshake, then nothing (cut at the login deadline);
// - "drip login": a finished handshake, then a login frame one byte per
//   `dripMs` (cut at the login deadline).
// Meanwhile two clients chat, and the delay of every message is measured.
// All slow connections open at once, from this process: the burst of TLS
// handshakes costs this process too, so the delays of messages sent once
// all are open are also given apart.

import { type Latency, latency } from "./latency.ts";
import { LineClient, type Target } from "./line_client.ts";
import { sleep } from "../../lib/deadline.ts";
import { eventually } from "./schedule.ts";

/** The kinds of slow connection. */
export const SLOW_KINDS = ["silent", "half hello", "drip hello", "no login", "drip login"] as const;
export type SlowKind = typeof SLOW_KINDS[number];

/** How the attack is sized, and the deadlines the server was given. */
export interface SlowlorisOptions {
  perKind: number;
  dripMs: number;
  handshakeTimeoutMs: number;
  loginTimeoutMs: number;
  /** Gap between two chat messages. */
  chatEveryMs: number;
}

/** What happened to the slow connections and to the chat. */
export interface SlowlorisFigures {
  /** Per kind: how long each connection lived, from its TCP connect to its close (ms). */
  lifetimes: Record<SlowKind, number[]>;
  /** Per kind: connections still open when the run gave up waiting (must be 0). */
  survivors: Record<SlowKind, number>;
  /** Delay of each chat message from send to receipt, over the whole run. */
  chat: Latency;
  /**
   * The same, for messages sent once every slow connection was open (the
   * opening burst costs this process's own TLS handshakes, not the server's).
   */
  chatHeld: Latency;
  /** Chat messages sent and received. */
  sent: number;
  received: number;
  /** Bytes the dripping connections managed to send. */
  dripped: number;
}

const encoder = new TextEncoder();

/**
 * A real ClientHello for `localhost`, captured from Deno's own TLS client
 * by a TCP listener that then hangs up.
 */
export async function captureClientHello(certPem: string): Promise<Uint8Array> {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  const client = Deno.connect({ hostname: "127.0.0.1", port })
    .then((tcp) => Deno.startTls(tcp, { hostname: "localhost", caCerts: [certPem] }))
    .then((tls) => tls.handshake().finally(() => tls.close()))
    .catch(() => {});
  const conn = await listener.accept();
  let hello = new Uint8Array(0);
  // One TLS record: 5 bytes of header, the last two of them its length.
  const wanted = () => hello.length < 5 ? Infinity : 5 + ((hello[3] << 8) | hello[4]);
  const buffer = new Uint8Array(16 * 1024);
  while (hello.length < wanted()) {
    const n = await conn.read(buffer);
    if (n === null) break;
    const more = new Uint8Array(hello.length + n);
    more.set(hello);
    more.set(buffer.subarray(0, n), hello.length);
    hello = more;
  }
  conn.close();
  listener.close();
  await client;
  return hello;
}

/** Reads a raw connection until the server closes it (or resets it). */
async function readUntilClosed(conn: Deno.Conn): Promise<void> {
  const buffer = new Uint8Array(4096);
  while (true) {
    const n = await conn.read(buffer).catch(() => null);
    if (n === null) return;
  }
}

/** Writes `bytes` one at a time, `dripMs` apart, until done or `stopped()`; returns bytes written. */
async function drip(
  write: (byte: Uint8Array) => Promise<unknown>,
  bytes: Uint8Array,
  dripMs: number,
  stopped: () => boolean,
): Promise<number> {
  let sent = 0;
  for (const byte of bytes) {
    if (stopped()) break;
    try {
      await write(Uint8Array.of(byte));
    } catch {
      break; // The server has hung up.
    }
    sent++;
    await sleep(dripMs);
  }
  return sent;
}

/** One raw TCP slow connection; resolves with its lifetime and how much it dripped. */
async function rawSlow(
  target: Target,
  bytes: Uint8Array | undefined,
  dripMs: number,
  giveUpMs: number,
  opened: () => void,
): Promise<{ ms: number; dripped: number; open: boolean }> {
  const started = performance.now();
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: target.port });
  opened();
  let closed = false;
  const reading = readUntilClosed(conn).then(() => closed = true);
  let dripped = 0;
  const dripping = bytes === undefined
    ? Promise.resolve()
    : drip((b) => conn.write(b), bytes, dripMs, () => closed).then((n) => dripped = n);
  const done = await eventually(() => closed, giveUpMs);
  const ms = performance.now() - started;
  conn.close();
  await reading;
  await dripping;
  return { ms, dripped, open: !done };
}

/** One TLS slow connection (handshake done, never logged in). */
async function tlsSlow(
  target: Target,
  bytes: Uint8Array | undefined,
  dripMs: number,
  giveUpMs: number,
  opened: () => void,
): Promise<{ ms: number; dripped: number; open: boolean }> {
  const started = performance.now();
  const client = await LineClient.connect(target);
  opened();
  let dripped = 0;
  const dripping = bytes === undefined
    ? Promise.resolve()
    : drip((b) => client.send(b), bytes, dripMs, () => client.closed).then((n) => dripped = n);
  const done = await client.closedByServer(giveUpMs);
  const ms = performance.now() - started;
  await client.close();
  await dripping;
  return { ms, dripped, open: !done };
}

/**
 * Opens `perKind` slow connections of every kind at once while two clients
 * chat; waits until the server has cut them all (or the longer deadline plus
 * 5 s has passed) and returns what happened.
 */
export async function runSlowloris(
  target: Target,
  options: SlowlorisOptions,
): Promise<SlowlorisFigures> {
  const hello = await captureClientHello(target.certPem);
  const login = encoder.encode(JSON.stringify({ command: "login", nickname: "slowpoke" }) + "\n");
  const giveUpMs = Math.max(options.handshakeTimeoutMs, options.loginTimeoutMs) + 5000;
  const { dripMs } = options;

  // The chat that must not notice: alice writes, bob reads and times.
  const alice = await LineClient.login(target, `alice-${crypto.randomUUID().slice(0, 8)}`);
  const bob = await LineClient.login(target, `bob-${crypto.randomUUID().slice(0, 8)}`);
  const delays: number[] = [];
  const held: number[] = [];
  let allOpenAt = Infinity;
  bob.onLine = (line, at) => {
    const frame = JSON.parse(line);
    if (typeof frame.message === "string" && frame.message.startsWith("t=")) {
      const sentAt = Number(frame.message.slice(2));
      delays.push(at - sentAt);
      if (sentAt >= allOpenAt) held.push(at - sentAt);
    }
  };
  let chatting = true;
  let sent = 0;
  const chat = (async () => {
    while (chatting) {
      await alice.send({ message: `t=${performance.now()}` });
      sent++;
      await sleep(options.chatEveryMs);
    }
  })();

  let open = 0;
  const opened = () => {
    if (++open === SLOW_KINDS.length * options.perKind) allOpenAt = performance.now();
  };
  const starts: Record<SlowKind, () => ReturnType<typeof rawSlow>> = {
    "silent": () => rawSlow(target, undefined, dripMs, giveUpMs, opened),
    "half hello": () => rawSlow(target, hello.subarray(0, 6), 0, giveUpMs, opened),
    "drip hello": () => rawSlow(target, hello, dripMs, giveUpMs, opened),
    "no login": () => tlsSlow(target, undefined, dripMs, giveUpMs, opened),
    "drip login": () => tlsSlow(target, login, dripMs, giveUpMs, opened),
  };
  const runs = SLOW_KINDS.flatMap((kind) =>
    Array.from({ length: options.perKind }, () => starts[kind]().then((r) => ({ kind, ...r })))
  );
  const results = await Promise.all(runs);
  chatting = false;
  await chat;
  // The last message's delay is measured before the chat stops.
  await eventually(() => delays.length >= sent, 2000);
  await alice.close();
  await bob.close();

  const lifetimes = Object.fromEntries(SLOW_KINDS.map((k) => [k, [] as number[]])) as Record<
    SlowKind,
    number[]
  >;
  const survivors = Object.fromEntries(SLOW_KINDS.map((k) => [k, 0])) as Record<SlowKind, number>;
  let dripped = 0;
  for (const r of results) {
    lifetimes[r.kind].push(r.ms);
    if (r.open) survivors[r.kind]++;
    dripped += r.dripped;
  }
  return {
    lifetimes,
    survivors,
    chat: latency(delays),
    chatHeld: latency(held),
    sent,
    received: delays.length,
    dripped,
  };
}
