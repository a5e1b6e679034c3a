// End to end: our own server as a real process, our clients as real
// processes without a terminal. Two clients chat; history reaches the one
// who comes later; a taken nickname is refused; a piped file gets through a
// strict rate limit whole and in order.

import assert from "node:assert/strict";
import { eventually, fileCerts, ROOT } from "./_helpers.ts";
import { testNeeding } from "../_tools.ts";
import { withDenoDir } from "../_deno_dir.ts";

/** Deno.test for the tests that use certificates made with openssl: skipped without it. */
const test = testNeeding("openssl");
// Without openssl there are no certificates, and every test that reads them is skipped.
const certs = await fileCerts();

const PERMISSIONS = ["--allow-net", "--allow-read", "--allow-write", "--allow-env", "--allow-sys"];

/** A child process with its output collected as text. */
class Child {
  readonly process: Deno.ChildProcess;
  readonly out = { text: "" };
  readonly err = { text: "" };
  readonly #reading: Promise<unknown>;
  readonly #input: WritableStreamDefaultWriter<Uint8Array>;

  constructor(args: string[], env: Record<string, string>) {
    this.process = new Deno.Command(Deno.execPath(), {
      args: ["run", ...PERMISSIONS, "main.ts", ...args],
      cwd: ROOT,
      env,
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    this.#input = this.process.stdin.getWriter();
    const collect = async (stream: ReadableStream<Uint8Array>, into: { text: string }) => {
      for await (const chunk of stream.pipeThrough(new TextDecoderStream())) into.text += chunk;
    };
    this.#reading = Promise.all([
      collect(this.process.stdout, this.out),
      collect(this.process.stderr, this.err),
    ]);
  }

  async type(line: string): Promise<void> {
    await this.#input.write(new TextEncoder().encode(line + "\n"));
  }

  /** Ends stdin and waits for the exit code. */
  async finish(): Promise<number> {
    await this.#input.close().catch(() => {});
    const status = await this.process.status;
    await this.#reading;
    return status.code;
  }

  /** Writes many lines at once. */
  async typeAll(lines: string[]): Promise<void> {
    await this.#input.write(new TextEncoder().encode(lines.map((line) => line + "\n").join("")));
  }

  async stop(): Promise<void> {
    try {
      this.process.kill("SIGTERM");
    } catch {
      // Already gone.
    }
    await this.finish();
  }
}

test("two clients chat through our server; the later one gets the history", async () => {
  const config = await Deno.makeTempDir({ prefix: "chat-client-e2e-" });
  const env = withDenoDir({ NO_COLOR: "1", TZ: "UTC", HOME: config, XDG_CONFIG_HOME: config });
  const server = new Child([
    "server",
    "--port",
    "0",
    "--host",
    "127.0.0.1",
    "--cert",
    certs.caTrue.certFile,
    "--key",
    certs.caTrue.keyFile,
  ], env);
  const clients: Child[] = [];
  try {
    assert(
      await eventually(() => /listening on \S+:\d+/.test(server.out.text), 20_000),
      server.out.text + server.err.text,
    );
    const addr = /listening on (\S+:\d+)/.exec(server.out.text)![1];
    const client = (nick: string) => {
      const child = new Child([
        "client",
        "--addr",
        addr,
        "--nick",
        nick,
        "--ca",
        certs.caTrue.certFile,
      ], env);
      clients.push(child);
      return child;
    };
    const alice = client("alice");
    await alice.type("hi, is anyone here?");
    assert(
      await eventually(() => alice.out.text.includes("<alice> hi, is anyone here?"), 15_000),
      alice.err.text,
    );

    const bob = client("bob");
    assert(
      await eventually(() => bob.out.text.includes("<alice> hi, is anyone here?"), 15_000),
      bob.err.text,
    );
    await bob.type("hello alice");
    assert(await eventually(() => alice.out.text.includes("<bob> hello alice")), alice.out.text);
    await alice.type("hello bob");
    assert(await eventually(() => bob.out.text.includes("<alice> hello bob")), bob.out.text);

    const impostor = client("Alice");
    assert.equal(await impostor.finish(), 1);
    assert.match(impostor.err.text, /login as Alice refused/);

    assert.equal(await bob.finish(), 0, bob.err.text);
    assert.equal(await alice.finish(), 0, alice.err.text);
    // Each message once, in the server's order; own messages echoed locally.
    const chat = (text: string) =>
      text.split("\n").filter((l) => /^\d\d:\d\d </.test(l)).map((l) => l.slice(6));
    assert.deepEqual(chat(alice.out.text), [
      "<alice> hi, is anyone here?",
      "<bob> hello alice",
      "<alice> hello bob",
    ]);
    assert.deepEqual(chat(bob.out.text), [
      "<alice> hi, is anyone here?",
      "<bob> hello alice",
      "<alice> hello bob",
    ]);
  } finally {
    for (const child of clients) await child.stop();
    await server.stop();
    await Deno.remove(config, { recursive: true });
  }
});

test("a piped file gets through a strict rate limit: every line reaches another client once, in order", async () => {
  const config = await Deno.makeTempDir({ prefix: "chat-client-e2e-" });
  const env = withDenoDir({ NO_COLOR: "1", TZ: "UTC", HOME: config, XDG_CONFIG_HOME: config });
  const server = new Child([
    "server",
    "--port",
    "0",
    "--host",
    "127.0.0.1",
    "--cert",
    certs.caTrue.certFile,
    "--key",
    certs.caTrue.keyFile,
    "--rate-limit",
    "5",
  ], env);
  const clients: Child[] = [];
  try {
    assert(
      await eventually(() => /listening on \S+:\d+/.test(server.out.text), 20_000),
      server.out.text + server.err.text,
    );
    const addr = /listening on (\S+:\d+)/.exec(server.out.text)![1];
    const client = (nick: string) => {
      const args = ["client", "--addr", addr, "--nick", nick, "--ca", certs.caTrue.certFile];
      const child = new Child(args, env);
      clients.push(child);
      return child;
    };
    const reader = client("reader");
    assert(await eventually(() => /logged in/.test(reader.err.text), 15_000), reader.err.text);
    const input = Array.from({ length: 40 }, (_, i) => `line ${i + 1}`);
    const piper = client("piper");
    await piper.typeAll(input);
    // 40 lines at once against 5 a second with bursts of 10: most are refused at first.
    assert.equal(await piper.finish(), 0, piper.err.text);
    const received = () =>
      reader.out.text.split("\n").filter((l) => l.includes("<piper>")).map((l) => l.slice(6));
    assert(await eventually(() => received().length >= 40), reader.out.text);
    assert.deepEqual(received(), input.map((line) => `<piper> ${line}`));
    assert.match(piper.err.text, /limits how fast we may send/);
    assert.equal(await reader.finish(), 0, reader.err.text);
    assert.deepEqual(received(), input.map((line) => `<piper> ${line}`), "nothing twice");
  } finally {
    for (const child of clients) await child.stop();
    await server.stop();
    await Deno.remove(config, { recursive: true });
  }
});
