// Test helpers for scaling out through Redis: a private redis-server on a
// free port (stopped and restarted on the same port and folder for outage
// tests), in-process "servers" (a store and its Redis link), and
// `chat server --redis …` as real processes sharing one certificate.

import { GENERATED_CERT_FILE, GENERATED_KEY_FILE } from "../../lib/server/cert.ts";
import type { Claim, SharedChatEvents } from "../../lib/server/shared_chat.ts";
import type { Present } from "../../lib/server/presence.ts";
import type { LeaveReason } from "../../lib/protocol.ts";
import type { Logger } from "../../lib/server/log.ts";
import { RedisLink } from "../../lib/server/redis/link.ts";
import { MemoryStore } from "../../lib/server/store.ts";
import { ChatProcess } from "../../bench/chat_process.ts";
import { eventually } from "../../bench/fault/schedule.ts";
import { sleep } from "../../lib/deadline.ts";
import type { Target } from "./_helpers.ts";
import { localIdentity } from "../../bench/in_process_server.ts";

export { ChatProcess, runChat } from "../../bench/chat_process.ts";

/** Polls `check` until it holds; throws naming `what` after `ms`. */
export async function until(what: string, check: () => boolean | Promise<boolean>, ms = 5_000) {
  if (!await eventually(check, ms)) throw new Error(`timed out waiting for ${what}`);
}

const decoder = new TextDecoder();

/** The time the tests' presence events carry. */
export const TIME = "2026-11-27T10:00:00Z";

/** One "server" in-process: its local store, its Redis link, what it logged and heard. */
export class RedisNode {
  readonly store = new MemoryStore();
  readonly logs: string[] = [];
  readonly authored: [number, number][] = [];
  readonly lost: [string, number][] = [];
  /** The roster as this node's hub would hold it: nickname key → where. */
  readonly roster = new Map<string, Present>();
  /** Every roster change heard, as "join key" or "leave key reason". */
  readonly changes: string[] = [];
  /** Direct messages that arrived for local members: [member id, line]. */
  readonly directs: [number, string][] = [];
  readonly orders: [number, string][] = [];
  link!: RedisLink;

  static async open(redis: RedisServer, leaseMs = 5_000): Promise<RedisNode> {
    const node = new RedisNode();
    const logger: Logger = {
      log: (event, fields = {}) => node.logs.push(`${event} ${JSON.stringify(fields)}`),
    };
    node.link = await RedisLink.open({ url: redis.url, store: node.store, logger, leaseMs });
    const events: SharedChatEvents = {
      arrived: (authored) => node.authored.push(...authored),
      lost: (key, owner) => node.lost.push([key, owner]),
      joined: (key, present) => {
        node.roster.set(key, present);
        node.changes.push(`join ${key}`);
      },
      left: (key, place, reason) => {
        const held = node.roster.get(key);
        if (held?.server === place.server && held.member === place.member) node.roster.delete(key);
        node.changes.push(`leave ${key} ${reason}`);
      },
      direct: (member, line) => node.directs.push([member, line]),
      ordered: (member, order) => node.orders.push([member, order]),
    };
    node.link.listen(events);
    return node;
  }

  /** Claims nickname `key` (also the nickname) for member `owner`, as a login does. */
  claim(key: string, owner: number, direct = false): Promise<Claim> {
    return this.link.claim(key, owner, { nickname: key, direct }, TIME);
  }

  /** Releases nickname `key` of member `owner`, as a leave does. */
  release(key: string, owner: number, reason: LeaveReason = "quit"): void {
    this.link.release(key, owner, reason, TIME);
  }

  /** Every stored message as [seq, from, message]. */
  messages(): [number, string, string][] {
    const read = this.store.read(1, Infinity, -1);
    const text = read.pieces.map((piece) => decoder.decode(piece)).join("");
    return text.split("\n").filter((line) => line !== "").map((line) => {
      const frame = JSON.parse(line);
      return [frame.seq, frame.from, frame.message];
    });
  }

  close(): Promise<void> {
    return this.link.close();
  }
}

/** A message as posted, at a fixed time. */
export const post = (from: string, message: string) => ({
  from,
  message,
  time: "2026-11-27T10:00:00Z",
});

/**
 * A TCP port nothing listens on, below the ephemeral range: while Redis is
 * down, a client's reconnect attempt can then never be handed the very port
 * it dials as its own local port (a TCP self-connect).
 */
export async function freePort(): Promise<number> {
  let low = 32768;
  try {
    low = Number(
      (await Deno.readTextFile("/proc/sys/net/ipv4/ip_local_port_range")).split(/\s+/)[0],
    );
  } catch {
    // Not Linux: keep the usual lower bound.
  }
  const floor = Math.min(10_000, low - 1000);
  for (let attempt = 0; attempt < 100; attempt++) {
    const port = floor + Math.floor(Math.random() * (low - floor));
    try {
      Deno.listen({ hostname: "127.0.0.1", port }).close();
      return port;
    } catch {
      // Taken: try another.
    }
  }
  throw new Error("no free port below the ephemeral range");
}

/** A private redis-server on 127.0.0.1, append-only with fsync on every write. */
export class RedisServer {
  readonly port: number;
  readonly dir: string;
  /** Everything redis-server wrote, across restarts. */
  log = "";
  #child: Deno.ChildProcess | undefined;
  #output: Promise<void> = Promise.resolve();

  private constructor(port: number, dir: string) {
    this.port = port;
    this.dir = dir;
  }

  /** `--redis` for this server. */
  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  /** True while the process runs. */
  get running(): boolean {
    return this.#child !== undefined;
  }

  /** Starts redis-server on a free port and a fresh folder; resolves once it answers PING. */
  static async start(): Promise<RedisServer> {
    const dir = await Deno.makeTempDir({ prefix: "chat-redis-" });
    const redis = new RedisServer(await freePort(), dir);
    try {
      await redis.#spawn();
    } catch (error) {
      await Deno.remove(dir, { recursive: true });
      throw error;
    }
    return redis;
  }

  async #spawn(): Promise<void> {
    const child = new Deno.Command("redis-server", {
      args: [
        "--port",
        String(this.port),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "yes",
        "--appendfsync",
        "always",
        "--dir",
        this.dir,
      ],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    this.#child = child;
    const collect = async (stream: ReadableStream<Uint8Array>) => {
      for await (const text of stream.pipeThrough(new TextDecoderStream())) this.log += text;
    };
    this.#output = Promise.all([collect(child.stdout), collect(child.stderr)]).then(() => {});
    let exited = false;
    child.status.then(() => exited = true);
    const deadline = Date.now() + 10_000;
    while (!(await this.#pong())) {
      if (exited || Date.now() > deadline) {
        await this.stop();
        throw new Error(`redis-server on port ${this.port} did not come up; its log:\n${this.log}`);
      }
      await sleep(20);
    }
  }

  /** True when a PING over a fresh connection gets +PONG (not -LOADING, not refused). */
  async #pong(): Promise<boolean> {
    let conn: Deno.TcpConn | undefined;
    try {
      conn = await Deno.connect({ hostname: "127.0.0.1", port: this.port });
      await conn.write(new TextEncoder().encode("PING\r\n"));
      const buffer = new Uint8Array(64);
      const n = await conn.read(buffer);
      return n !== null && new TextDecoder().decode(buffer.subarray(0, n)).startsWith("+PONG");
    } catch {
      return false;
    } finally {
      conn?.close();
    }
  }

  /** SIGTERM (Redis flushes its append-only file and exits) and waits for the exit. */
  async stop(): Promise<void> {
    const child = this.#child;
    if (!child) return;
    try {
      child.kill("SIGTERM");
    } catch {
      // Exited already.
    }
    const timer = setTimeout(() => {
      this.log += "(still running 5 s after SIGTERM: SIGKILL)\n";
      child.kill("SIGKILL");
    }, 5000);
    await child.status;
    clearTimeout(timer);
    await this.#output;
    this.#child = undefined;
  }

  /** Starts it again on the same port and folder (so with the same data). */
  async restart(): Promise<void> {
    await this.stop();
    await this.#spawn();
  }

  /** Runs one command with redis-cli and returns its raw answer, trimmed. */
  async command(...args: string[]): Promise<string> {
    const { code, stdout, stderr } = await new Deno.Command("redis-cli", {
      args: ["-h", "127.0.0.1", "-p", String(this.port), "--raw", ...args],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
    const decoder = new TextDecoder();
    if (code !== 0) throw new Error(`redis-cli ${args.join(" ")}: ${decoder.decode(stderr)}`);
    return decoder.decode(stdout).trim();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
    await Deno.remove(this.dir, { recursive: true });
  }
}

/**
 * Several `chat server --redis URL` processes in one temporary working
 * directory, all serving the same certificate (written to certs/ before
 * they start, so none of them races to generate it).
 */
export class ChatServers {
  readonly dir: string;
  readonly certPem: string;
  readonly servers: ChatProcess[];

  private constructor(dir: string, certPem: string, servers: ChatProcess[]) {
    this.dir = dir;
    this.certPem = certPem;
    this.servers = servers;
  }

  /**
   * Starts one server per entry of `extraArgs` (its own extra flags), each
   * with `--redis redisUrl --host 127.0.0.1 --port 0 --rate-limit 0`, and
   * waits until every one listens.
   */
  static async start(redisUrl: string, extraArgs: string[][]): Promise<ChatServers> {
    const dir = await Deno.makeTempDir({ prefix: "chat-servers-" });
    const { certPem, keyPem } = await localIdentity();
    await Deno.mkdir(`${dir}/certs`);
    await Deno.writeTextFile(`${dir}/certs/${GENERATED_KEY_FILE}`, keyPem, { mode: 0o600 });
    await Deno.writeTextFile(`${dir}/certs/${GENERATED_CERT_FILE}`, certPem);
    const servers = extraArgs.map((extra) =>
      new ChatProcess(
        [
          "server",
          "--redis",
          redisUrl,
          "--host",
          "127.0.0.1",
          "--port",
          "0",
          "--rate-limit",
          "0",
          ...extra,
        ],
        dir,
      )
    );
    const group = new ChatServers(dir, certPem, servers);
    try {
      await Promise.all(servers.map((server) => server.listening()));
    } catch (error) {
      await group[Symbol.asyncDispose]();
      throw error;
    }
    return group;
  }

  /** Where a TestClient connects to reach server `index`. */
  target(index: number): Target {
    return { port: this.servers[index].port, certPem: this.certPem };
  }

  /** Every server's stderr, labelled, for failure messages. */
  logs(): string {
    return this.servers.map((s, i) => `--- server ${i} (port ${s.port}) stderr:\n${s.stderr}`)
      .join("\n");
  }

  async [Symbol.asyncDispose](): Promise<void> {
    const stopped = await Promise.allSettled(this.servers.map((server) => server.stop()));
    await Deno.remove(this.dir, { recursive: true });
    for (const result of stopped) if (result.status === "rejected") throw result.reason;
  }
}
