// `chat check` as a real process against our server as a real process:
// every check passes and the exit code is 0; the probe leaves the server as
// it found it (every connection closed, every nickname free); the command
// line's errors are usage errors; Ctrl-C ends a run promptly.

import assert from "node:assert/strict";
import type { CliContext } from "../../lib/cli.ts";
import { runCheck } from "../../lib/check/cli.ts";
import { CHECKS } from "../../lib/check/checks.ts";
import * as identityChecks from "../../lib/check/identity_checks.ts";
import * as roomChecks from "../../lib/check/room_checks.ts";
import { ChatProcess, runChat as run } from "../../bench/chat_process.ts";
import { FakeChatServer } from "./_fake_server.ts";
import { localIdentity } from "../../bench/in_process_server.ts";

const CORE = CHECKS.filter((c) => c.kind === "core").length;
/** The checks of §9–§13, skipped against a server that speaks none of them. */
const FEATURE_CHECKS = new Set(
  [...Object.values(roomChecks), ...Object.values(identityChecks)].map((check) => check.name),
);
const decoder = new TextDecoder();

/** Our server as a process in a temp dir, removed when it stops. */
class ServerProcess extends ChatProcess {
  readonly dir: string;
  /** The generated certificate to pass as --ca. */
  readonly ca: string;

  private constructor(dir: string, extra: string[]) {
    super(["server", "--host", "127.0.0.1", "--port", "0", ...extra], dir);
    this.dir = dir;
    this.ca = `${dir}/certs/cert.pem`;
  }

  /** Starts `chat server` with `extra` flags. */
  static async start(extra: string[] = []): Promise<ServerProcess> {
    const dir = await Deno.makeTempDir({ prefix: "chat-check-server-" });
    const server = new ServerProcess(dir, extra);
    try {
      await server.listening();
    } catch (error) {
      await server.stop();
      throw error;
    }
    return server;
  }

  /** How many log lines start with `event` (after the timestamp). */
  count(event: string): number {
    return this.stderr.split("\n").filter((line) => line.split(" ")[1] === event).length;
  }

  override async stop(signal?: Deno.Signal): Promise<number> {
    try {
      return await super.stop(signal);
    } finally {
      await Deno.remove(this.dir, { recursive: true });
    }
  }
}

Deno.test("against our server every check passes, exit 0, and the server is left as it was", async () => {
  const server = await ServerProcess.start();
  try {
    const { code, stdout, stderr } = await run([
      "check",
      `127.0.0.1:${server.port}`,
      "--ca",
      server.ca,
    ]);
    assert.equal(code, 0, stdout + stderr);
    const lines = stdout.trim().split("\n");
    const runId = /^chat check 127\.0\.0\.1:\d+: run ([0-9a-f]{8}) /.exec(lines[0])?.[1];
    assert.ok(runId, lines[0]);
    const results = lines.slice(1, -1);
    assert.equal(results.length, CHECKS.length);
    for (const [i, check] of CHECKS.entries()) {
      assert.match(
        results[i],
        new RegExp(`^PASS ${check.name}: \\S`),
        results[i],
      );
    }
    assert.equal(
      lines.at(-1),
      `${CORE} passed, 0 failed; extensions (informational): ${
        CHECKS.filter((c) => c.kind === "extension").map((c) =>
          `${c.name.replace(/^ext /, "")} pass`
        ).join(", ")
      }`,
    );
    assert.ok(!stdout.includes("\x1b"), "no colour without a terminal");
    assert.equal(stderr, "");

    // Every connection the probe opened is closed, every nickname it used is free.
    const settled = Date.now() + 3000;
    while (server.count("disconnect") < server.count("connect") && Date.now() < settled) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    assert.equal(server.count("disconnect"), server.count("connect"));
    assert.ok(server.count("connect") > 20);
    const disconnects = server.stderr.split("\n").filter((l) => l.split(" ")[1] === "disconnect");
    for (const line of disconnects) {
      assert.match(line, /reason="closed by peer"$/, "closed politely");
    }
    for (const n of [1, 20]) {
      const nickname: string = `check-${runId}-${n}`;
      const conn = await Deno.connectTls({
        hostname: "127.0.0.1",
        port: server.port,
        caCerts: [await Deno.readTextFile(server.ca)],
      });
      try {
        await conn.write(
          new TextEncoder().encode(JSON.stringify({ command: "login", nickname }) + "\n"),
        );
        const buffer = new Uint8Array(64 * 1024);
        const read = await conn.read(buffer);
        const first = decoder.decode(buffer.subarray(0, read ?? 0)).split("\n")[0];
        assert.equal(JSON.parse(first).status, "ok", `${nickname} is free: ${first}`);
      } finally {
        conn.close();
      }
    }
  } finally {
    await server.stop();
  }
});

Deno.test("--json prints one parseable line per check and a summary", async () => {
  const server = await ServerProcess.start();
  try {
    const { code, stdout } = await run([
      "check",
      `127.0.0.1:${server.port}`,
      "--ca",
      server.ca,
      "--json",
    ]);
    assert.equal(code, 0);
    const lines = stdout.trim().split("\n").map((line) => JSON.parse(line));
    const summary = lines.pop();
    assert.deepEqual(summary, { passed: CORE, failed: 0, notRun: 0, ok: true });
    assert.deepEqual(lines.map((l) => l.check), CHECKS.map((c) => c.name));
    for (const line of lines) {
      assert.equal(line.result, "pass", JSON.stringify(line));
      assert.equal(typeof line.detail, "string");
      assert.ok(line.kind === "core" || line.kind === "extension");
    }
  } finally {
    await server.stop();
  }
});

Deno.test("against our server with --features none the checks of §9–§13 are skipped, the rest pass", async () => {
  const server = await ServerProcess.start(["--features", "none"]);
  try {
    const { code, stdout } = await run([
      "check",
      `127.0.0.1:${server.port}`,
      "--ca",
      server.ca,
      "--json",
    ]);
    assert.equal(code, 0, stdout);
    const lines = stdout.trim().split("\n").map((line) => JSON.parse(line));
    assert.deepEqual(lines.pop(), { passed: CORE, failed: 0, notRun: 0, ok: true });
    assert.equal(FEATURE_CHECKS.size, 10);
    for (const line of lines) {
      const result = FEATURE_CHECKS.has(line.check) ? "skip" : "pass";
      assert.equal(line.result, result, JSON.stringify(line));
    }
  } finally {
    await server.stop();
  }
});

Deno.test("without --ca our self-signed certificate is not trusted: FAIL login, exit 1", async () => {
  const server = await ServerProcess.start();
  try {
    const { code, stdout } = await run(["check", `127.0.0.1:${server.port}`]);
    assert.equal(code, 1);
    assert.match(stdout, /^FAIL login: .*self-signed certificate.*--ca FILE/m);
    assert.match(stdout, /^SKIP relay: not run: the login check failed$/m);
    assert.match(stdout, new RegExp(`^0 passed, 1 failed, ${CORE - 1} not run`, "m"));
  } finally {
    await server.stop();
  }
});

Deno.test("a wrong command line is a usage error, exit 2; --help explains the exit code", async () => {
  for (
    const args of [
      ["check"],
      ["check", "a", "b"],
      ["check", "localhost:x"],
      ["check", "localhost", "--ca", "x.pem", "--insecure"],
      ["check", "localhost", "--timeout", "0"],
      ["check", "localhost", "--timeout", "soon"],
      ["check", "localhost", "--bogus"],
    ]
  ) {
    const { code, stdout, stderr } = await run(args);
    assert.equal(code, 2, args.join(" "));
    assert.equal(stdout, "");
    assert.match(stderr, /Usage:/);
  }
  const help = await run(["check", "--help"]);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /Exit 0 only when every core check passes/);
  assert.match(help.stdout, /never change the exit code/);
  // Every extension the summary reports is named where the help explains them.
  for (const name of ["ids", "seq", "since", "features", "presence", "direct", "register", "ops"]) {
    assert.match(help.stdout, new RegExp(`Extensions \\([^)]*\\b${name}\\b`), name);
  }
  const top = await run(["--help"]);
  assert.match(top.stdout, /chat check HOST\[:PORT\]/);
});

Deno.test("an unreadable --ca is one sentence on stderr, exit 1", async () => {
  const { code, stdout, stderr } = await run([
    "check",
    "127.0.0.1:1",
    "--ca",
    "/nonexistent/ca.pem",
  ]);
  assert.equal(code, 1);
  assert.equal(stdout, "");
  assert.match(stderr, /^chat: cannot read --ca \/nonexistent\/ca\.pem: /);
});

Deno.test("Ctrl-C ends the run at once, closes its connections and exits 1", async () => {
  await using server = new FakeChatServer(await localIdentity(), { silent: true });
  const stop = new AbortController();
  let stdout = "";
  let stderr = "";
  const context: CliContext = {
    env: () => undefined,
    stdout: (text) => void (stdout += text),
    stderr: (text) => void (stderr += text),
    signal: stop.signal,
  };
  const started = performance.now();
  const running = runCheck([`127.0.0.1:${server.port}`, "--insecure", "--timeout", "30"], context);
  setTimeout(() => stop.abort("SIGINT"), 300);
  const code = await running;
  assert.equal(code, 1);
  assert.ok(performance.now() - started < 5000, "not the 30 s timeout");
  assert.match(stderr, /interrupted/);
  assert.match(stdout, new RegExp(`^0 passed, 0 failed, ${CORE} not run$`, "m"));
});
