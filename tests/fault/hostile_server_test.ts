// A hostile server against `chat client` and `chat check` as real processes
// (issue 16): a chat message whose `from` is an object with a `toString` of
// its own made String() throw "Cannot convert object to primitive value",
// and both programs died with a stack trace. Now the frame is ignored with a
// notice, nobody is shown as its speaker, and everything else goes on.

import assert from "node:assert/strict";
import { MAIN, PERMISSIONS, runChat } from "../../bench/chat_process.ts";
import { LineSplitter } from "../../lib/lines.ts";
import { localIdentity } from "../../bench/in_process_server.ts";
import { withDenoDir } from "../_deno_dir.ts";

/** The frames a hostile server sends after every successful login. */
const HOSTILE_FRAMES = [
  '{"from":{"toString":1},"message":"spoofed"}',
  '{"from":{"valueOf":1,"toString":1},"message":"spoofed"}',
  '{"from":42,"message":"spoofed"}',
];

const encoder = new TextEncoder();

/**
 * A small chat server on real TLS that speaks the core protocol well enough
 * for a client and the probe (login, history, relay, acks), and follows
 * every successful login with {@linkcode HOSTILE_FRAMES}.
 */
class HostileServer {
  readonly listener: Deno.TlsListener;
  readonly #history: string[] = [];
  readonly #online = new Map<string, Deno.TlsConn>();
  readonly #handlers: Promise<void>[] = [];
  readonly #conns = new Set<Deno.TlsConn>();
  readonly #accepting: Promise<void>;

  constructor(cert: { certPem: string; keyPem: string }) {
    const listener = Deno.listenTls({
      hostname: "127.0.0.1",
      port: 0,
      cert: cert.certPem,
      key: cert.keyPem,
    });
    this.listener = listener;
    this.#accepting = (async () => {
      try {
        for await (const conn of listener) this.#handlers.push(this.#serve(conn));
      } catch {
        // Listener closed.
      }
    })();
  }

  get port(): number {
    return this.listener.addr.port;
  }

  async close(): Promise<void> {
    this.listener.close();
    await this.#accepting;
    for (const conn of this.#conns) this.#end(conn);
    await Promise.all(this.#handlers);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  async #serve(conn: Deno.TlsConn): Promise<void> {
    this.#conns.add(conn);
    let nickname: string | undefined;
    let writing = Promise.resolve();
    const send = (lines: string[]) => {
      const bytes = encoder.encode(lines.map((line) => line + "\n").join(""));
      writing = writing.then(async () => {
        let offset = 0;
        while (offset < bytes.length) offset += await conn.write(bytes.subarray(offset));
      }).catch(() => {});
    };
    const splitter = new LineSplitter(1 << 20, {
      line: (text) => {
        let frame: Record<string, unknown>;
        try {
          frame = JSON.parse(text);
        } catch {
          return send(['{"status":"error","reason":"malformed JSON"}']);
        }
        if (frame.command === "login" && typeof frame.nickname === "string") {
          if (nickname !== undefined || this.#online.has(frame.nickname)) {
            return send(['{"status":"error","reason":"nickname already in use"}']);
          }
          nickname = frame.nickname;
          this.#online.set(nickname, conn);
          return send(['{"status":"ok"}', ...this.#history, ...HOSTILE_FRAMES]);
        }
        if (nickname === undefined) return send(['{"status":"error","reason":"login required"}']);
        if (typeof frame.message !== "string" || frame.message === "") {
          return send(['{"status":"error","reason":"message must be a string"}']);
        }
        const line = JSON.stringify({
          from: nickname,
          message: frame.message,
          time: "2017-01-12T20:00:00-0800",
        });
        this.#history.push(line);
        for (const peer of this.#online.values()) {
          if (peer !== conn) peer.write(encoder.encode(line + "\n")).catch(() => {});
        }
        if (typeof frame.id === "string") send([JSON.stringify({ status: "ok", id: frame.id })]);
      },
      error: (reason) => send([JSON.stringify({ status: "error", reason })]),
    });
    const buffer = new Uint8Array(64 * 1024);
    try {
      while (true) {
        const n = await conn.read(buffer);
        if (n === null) break;
        splitter.push(buffer.subarray(0, n));
      }
    } catch {
      // Reset, or closed by close().
    }
    await writing;
    if (nickname !== undefined && this.#online.get(nickname) === conn) {
      this.#online.delete(nickname);
    }
    this.#end(conn);
  }

  #end(conn: Deno.TlsConn): void {
    this.#conns.delete(conn);
    try {
      conn.close();
    } catch {
      // Already closed.
    }
  }
}

/** Runs `test` with a {@linkcode HostileServer} and its certificate in a temp dir (also HOME). */
async function withHostileServer(
  test: (server: HostileServer, ca: string, dir: string) => Promise<void>,
): Promise<void> {
  const cert = await localIdentity();
  const dir = await Deno.makeTempDir({ prefix: "chat-hostile-server-" });
  try {
    const ca = `${dir}/cert.pem`;
    await Deno.writeTextFile(ca, cert.certPem);
    await using server = new HostileServer(cert);
    await test(server, ca, dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** `chat client ARGS` with `input` on stdin, to its end. */
async function client(
  args: string[],
  input: string,
  home: string,
): Promise<{ code: number; stdout: string; stderr: string }> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", ...PERMISSIONS, MAIN, "client", ...args],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
    env: withDenoDir({ NO_COLOR: "1", HOME: home, XDG_CONFIG_HOME: home }),
    signal: AbortSignal.timeout(30_000),
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(encoder.encode(input));
  await writer.close();
  const { code, stdout, stderr } = await child.output();
  const decoder = new TextDecoder();
  return { code, stdout: decoder.decode(stdout), stderr: decoder.decode(stderr) };
}

Deno.test("chat client in pipe mode ignores a message whose from is not a string, and goes on", () =>
  withHostileServer(async (server, ca, dir) => {
    const addr = `127.0.0.1:${server.port}`;
    // Someone said something earlier: the client shows it, after the hostile frames of its login.
    const first = await client(["--addr", addr, "--nick", "bob", "--ca", ca], "hello\n", dir);
    assert.equal(first.code, 0, first.stdout + first.stderr);
    const { code, stdout, stderr } = await client(
      ["--addr", addr, "--nick", "alice", "--ca", ca],
      "hi bob\n",
      dir,
    );
    assert.equal(code, 0, `exit ${code}\nstdout: ${stdout}\nstderr: ${stderr}`);
    assert.doesNotMatch(stderr, /unexpected error|Cannot convert|TypeError/);
    assert.match(stdout, /bob.*hello/);
    assert.doesNotMatch(stdout, /spoofed|object Object|\b42\b/, "nobody is shown as the speaker");
    assert.equal(
      stderr.split("\n").filter((line) => line.includes("from must be a string")).length,
      HOSTILE_FRAMES.length,
      stderr,
    );
  }));

Deno.test("chat client --json ignores a message whose from is not a string, and goes on", () =>
  withHostileServer(async (server, ca, dir) => {
    const { code, stdout, stderr } = await client(
      ["--addr", `127.0.0.1:${server.port}`, "--nick", "carol", "--ca", ca, "--json"],
      "hi\n",
      dir,
    );
    assert.equal(code, 0, `exit ${code}\nstdout: ${stdout}\nstderr: ${stderr}`);
    assert.doesNotMatch(stderr, /unexpected error|Cannot convert|TypeError/);
    assert.doesNotMatch(stdout, /spoofed/);
    assert.match(stdout, /"status":"ok"/);
  }));

Deno.test("chat check against a server sending a message whose from is not a string reports, not crashes", () =>
  withHostileServer(async (server, ca, dir) => {
    const { code, stdout, stderr } = await runChat(
      ["check", `127.0.0.1:${server.port}`, "--ca", ca, "--timeout", "2"],
      dir,
      120_000,
    );
    assert.doesNotMatch(stderr, /unexpected error|Cannot convert|TypeError/, stderr);
    assert.ok(code === 0 || code === 1, `exit ${code}\nstdout: ${stdout}\nstderr: ${stderr}`);
    // Every check ran and the summary line came out.
    assert.match(stdout, /^\d+ passed, \d+ failed/m, stdout);
  }));
