// Servers for the bench tests, all in this process on 127.0.0.1:0: ours
// (the real one, limits lifted as `deno task bench` lifts them), and a
// line-broadcast server in the manner of `ncat --chat` that can drop or
// duplicate lines on purpose; plus an in-memory CliContext.

import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import config from "../../deno.json" with { type: "json" };
import type { CliContext } from "../../lib/cli.ts";
import { runBench } from "../../lib/bench/cli.ts";
import { UsageError } from "../../lib/errors.ts";
import type { BenchReport } from "../../lib/bench/result.ts";
import { type Identity, localIdentity, startInProcess } from "../../bench/in_process_server.ts";
import { makeCertificate } from "../../bench/processes.ts";

/** A server running for one test. */
export interface TestServer {
  port: number;
  /** A PEM file that trusts it, for --ca. */
  caFile: string;
  [Symbol.asyncDispose](): Promise<void>;
}

/** How long one `deno task bench` run of a test may take. */
const BENCH_TASK_TIMEOUT_MS = 120_000;

/**
 * Runs `deno task bench ARGS` with the task's own command line (so a test
 * runs exactly what people run), from the repository's root: its exit
 * code, its stdout and its log (stderr).
 */
export async function benchTask(
  args: string[],
): Promise<{ code: number; stdout: string; log: string }> {
  const words = config.tasks.bench.command.split(/\s+/);
  assert.deepEqual(words.slice(0, 2), ["deno", "run"]);
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: [...words.slice(1), ...args],
    cwd: fileURLToPath(new URL("../../", import.meta.url)),
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(BENCH_TASK_TIMEOUT_MS),
  }).output();
  const decoder = new TextDecoder();
  return { code, stdout: decoder.decode(stdout), log: decoder.decode(stderr) };
}

/** `--addr` and `--ca` for `server`: what every run against a test server starts with. */
export function target(server: TestServer): string[] {
  return ["--addr", `127.0.0.1:${server.port}`, "--ca", server.caFile];
}

/** The JSON report a `--json` run printed last. */
export function report(context: { out: string[] }): BenchReport {
  return JSON.parse(context.out.join("").trim().split("\n").at(-1)!);
}

/** Asserts that each command line is refused as a UsageError whose message matches. */
export function assertUsageErrors(
  parse: (args: string[]) => unknown,
  cases: readonly (readonly [readonly string[], RegExp])[],
): void {
  for (const [args, message] of cases) {
    assert.throws(() => parse([...args]), (error: Error) => {
      assert.ok(error instanceof UsageError, String(error));
      assert.match(error.message, message);
      return true;
    });
  }
}

/**
 * Runs `chat bench --raw --clients 3 --messages 50 --timeout 1 --json` and
 * `extra` against a server that drops every tenth line, then one that
 * doubles every 25th, and asserts that both runs fail with every loss and
 * duplicate counted (100 copies each).
 */
export async function assertLossesAndDuplicatesCounted(extra: string[] = []): Promise<void> {
  const args = [
    "--raw",
    "--clients",
    "3",
    "--messages",
    "50",
    "--timeout",
    "1",
    "--json",
    ...extra,
  ];
  await using dropping = await startFake({ dropEvery: 10 });
  const dropped = memoryContext();
  assert.equal(await runBench([...args, ...target(dropping)], dropped), 1);
  const lost = report(dropped);
  assert.equal(lost.lost, 10); // 100 copies, every tenth dropped.
  assert.equal(lost.timedOut, true);
  assert.match(
    lost.failure ?? "",
    /timed out: nothing happened for 1 s while waiting for deliveries/,
  );

  await using doubling = await startFake({ duplicateEvery: 25 });
  const doubled = memoryContext();
  assert.equal(await runBench([...args, ...target(doubling)], doubled), 1);
  const duplicated = report(doubled);
  assert.deepEqual([duplicated.lost, duplicated.duplicated, duplicated.failure], [0, 4, null]);
}

async function caFileOf(pem: string): Promise<{ path: string; remove(): Promise<void> }> {
  const path = await Deno.makeTempFile({ prefix: "chat-bench-ca-", suffix: ".pem" });
  await Deno.writeTextFile(path, pem);
  return { path, remove: () => Deno.remove(path) };
}

/** Our server, with no rate limit and no per-address cap (all clients come from 127.0.0.1). */
export async function startOurs(): Promise<TestServer> {
  const server = await startInProcess({ maxPerIp: 100_000 });
  const ca = await caFileOf(server.certPem);
  return {
    port: server.port,
    caFile: ca.path,
    async [Symbol.asyncDispose]() {
      await server.stop();
      await ca.remove();
    },
  };
}

/** What a fake server does with the lines it receives. */
export interface FakeBehaviour {
  /** Relay each line to every other client, prefixed `<userN> ` (ncat --chat); the default. */
  relay?: boolean;
  /** Drop every n-th relayed copy of a line that carries a message. */
  dropEvery?: number;
  /** Send every n-th relayed copy of a line that carries a message twice. */
  duplicateEvery?: number;
  /** Answer each line with this text instead of relaying it. */
  answer?: string;
}

/**
 * A TLS server that treats each line as a message for everyone else, like
 * `ncat --chat`, with faults on request. `identity` defaults to ours.
 */
export async function startFake(
  behaviour: FakeBehaviour = {},
  pems?: Identity,
): Promise<TestServer> {
  const { certPem, keyPem } = pems ?? await localIdentity();
  const listener = Deno.listenTls({ hostname: "127.0.0.1", port: 0, cert: certPem, key: keyPem });
  const peers = new Map<Deno.TlsConn, { user: number; queue: Promise<void> }>();
  const encoder = new TextEncoder();
  let copies = 0;
  let users = 0;

  const send = (conn: Deno.TlsConn, text: string) => {
    const peer = peers.get(conn);
    if (peer === undefined) return;
    const bytes = encoder.encode(text);
    peer.queue = peer.queue.then(async () => {
      for (let offset = 0; offset < bytes.length;) {
        offset += await conn.write(bytes.subarray(offset));
      }
    }).catch(() => {});
  };

  const serveOne = async (conn: Deno.TlsConn) => {
    peers.set(conn, { user: ++users, queue: Promise.resolve() });
    const decoder = new TextDecoder();
    const buffer = new Uint8Array(16 * 1024);
    let pending = "";
    try {
      while (true) {
        const n = await conn.read(buffer);
        if (n === null) break;
        pending += decoder.decode(buffer.subarray(0, n), { stream: true });
        const lines = pending.split("\n");
        pending = lines.pop()!;
        for (const line of lines) {
          if (behaviour.answer !== undefined) {
            send(conn, behaviour.answer);
            continue;
          }
          for (const other of peers.keys()) {
            if (other === conn) continue;
            const text = `<user${peers.get(conn)!.user}> ${line}\n`;
            const counted = /:\d+:\d+:\d+:/.test(line);
            if (counted) copies++;
            if (counted && behaviour.dropEvery && copies % behaviour.dropEvery === 0) continue;
            send(other, text);
            if (counted && behaviour.duplicateEvery && copies % behaviour.duplicateEvery === 0) {
              send(other, text);
            }
          }
        }
      }
    } catch {
      // Gone.
    }
    const peer = peers.get(conn)!;
    peers.delete(conn);
    await peer.queue;
    try {
      conn.close();
    } catch {
      // Closed already.
    }
  };

  const served: Promise<void>[] = [];
  const accepting = (async () => {
    for await (const conn of listener) served.push(serveOne(conn));
  })();
  const ca = await caFileOf(certPem);
  return {
    port: listener.addr.port,
    caFile: ca.path,
    async [Symbol.asyncDispose]() {
      listener.close();
      await accepting;
      for (const conn of peers.keys()) {
        try {
          conn.close();
        } catch {
          // Closed already.
        }
      }
      await Promise.all(served);
      await ca.remove();
    },
  };
}

/** A CliContext that keeps what is written. */
export function memoryContext(terminal = false): CliContext & { out: string[]; err: string[] } {
  const out: string[] = [];
  const err: string[] = [];
  return {
    out,
    err,
    env: () => undefined,
    stdout: (text) => out.push(text),
    stderr: (text) => err.push(text),
    signal: new AbortController().signal,
    isTerminal: { stdin: false, stdout: terminal },
  };
}

/**
 * A self-signed CA:TRUE certificate as `openssl req -x509` makes it (Deno's
 * TLS client refuses those), or with `authority` false a CA:FALSE one.
 */
export async function opensslIdentity(authority = true): Promise<Identity> {
  const dir = await Deno.makeTempDir({ prefix: "chat-bench-openssl-" });
  try {
    const { cert, key } = await makeCertificate(dir, authority);
    return { certPem: await Deno.readTextFile(cert), keyPem: await Deno.readTextFile(key) };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}
