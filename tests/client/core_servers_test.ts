// `chat client` as a process against small servers of the core protocol
// (tests/check/_fake_server.ts, with the protocol's original certificate:
// RSA 2048, CA:TRUE, no subjectAltName, a common name that is not the
// address dialed, pinned by --ca): one that numbers its messages (`seq`)
// and never acks, one that never sends `seq`, one that answers every `id`,
// and one that never answers the login. For each: what is shown, the exit
// code, how soon it leaves after end of input, and nothing false on stderr.

import assert from "node:assert/strict";
import { FakeChatServer, type Flaws } from "../check/_fake_server.ts";
import {
  clientEnv,
  ClientProcess,
  clientShellCommand,
  eventually,
  lines,
  makeSeedCert,
  type TestCert,
  Tmux,
  Typist,
} from "./_helpers.ts";
import { missing, testNeeding } from "../_tools.ts";

/** Deno.test for the tests that use a certificate made with openssl: skipped without it. */
const test = testNeeding("openssl");
/** The same for the ones that also drive the client in tmux. */
const testTty = testNeeding("openssl", "tmux");
const dir = await Deno.makeTempDir({ prefix: "chat-client-core-" });
const seed: TestCert = missing("openssl") ? undefined! : await makeSeedCert(dir);
globalThis.addEventListener("unload", () => Deno.removeSync(dir, { recursive: true }));

/** The notice for the seed's certificate, pinned by --ca although its name is not the address. */
const PINNED =
  /^the certificate of 127\.0\.0\.1:\d+ is for another name \(CN chat server\); trusted because it is pinned with --ca: it is the very certificate in that file$/;

/** The server kinds of issue 12, each a switch set of the fake core server. */
const KINDS: { name: string; flaws: Flaws }[] = [
  { name: "numbers its messages (seq) and never acks", flaws: { seq: true } },
  { name: "never sends seq and never acks", flaws: {} },
  { name: "answers every id", flaws: { seq: true, acks: true } },
];

/** A server of `kind` where alice said something before bob comes. */
async function serverWithHistory(flaws: Flaws) {
  const server = new FakeChatServer(seed, flaws);
  const alice = await Typist.login(server.port, "alice");
  alice.send({ message: "hello bob" });
  // Stored once anyone logging in gets it in the replay.
  const probe = await Typist.login(server.port, "probe");
  assert(await eventually(() => probe.messages.includes("alice: hello bob")), "history");
  await probe.close();
  return {
    server,
    alice,
    args: ["--addr", `127.0.0.1:${server.port}`, "--nick", "bob", "--ca", seed.certFile],
    async [Symbol.asyncDispose]() {
      await alice.close();
      await server.close();
    },
  };
}

for (const kind of KINDS) {
  test(`pipe: a server that ${kind.name}: history and lines shown, all delivered, exit 0 within 2 s of end of input`, async () => {
    await using t = await serverWithHistory(kind.flaws);
    const config = await Deno.makeTempDir({ prefix: "chat-client-core-" });
    await using client = new ClientProcess(t.args, clientEnv(config));
    assert(
      await eventually(() => client.stdout.includes("<alice> hello bob"), 15_000),
      client.stderr,
    );
    await client.type("hi alice", "second line");
    assert(
      await eventually(() => t.alice.messages.includes("bob: second line")),
      t.alice.received.join("\n"),
    );
    const { code, ms } = await client.end();
    assert.equal(code, 0, client.stderr);
    assert(ms <= 2000, `exit ${Math.round(ms)} ms after end of input`);
    assert.deepEqual(t.alice.messages, ["bob: hi alice", "bob: second line"]);
    const shown = lines(client.stdout).filter((line) => !line.startsWith("---"));
    assert.deepEqual(shown.map((line) => line.replace(/^\d\d:\d\d /, "")), [
      "<alice> hello bob",
      "<bob> hi alice",
      "<bob> second line",
    ]);
    const stderr = lines(client.stderr);
    assert.equal(stderr.length, 2, client.stderr);
    assert.match(stderr[0].replace(/^chat: /, ""), PINNED);
    assert.equal(stderr[1], `chat: logged in to 127.0.0.1:${t.server.port} as bob`);
    await Deno.remove(config, { recursive: true });
  });

  testTty(
    `terminal: a server that ${kind.name}: history and lines shown, Ctrl-D leaves at once with exit 0`,
    async () => {
      await using t = await serverWithHistory(kind.flaws);
      const config = await Deno.makeTempDir({ prefix: "chat-client-core-" });
      await using tmux = new Tmux();
      const env = { ...clientEnv(config), TZ: "UTC", TERM: "xterm-256color" };
      delete (env as Record<string, string>).NO_COLOR;
      // Wide enough that no notice wraps.
      await tmux.start(clientShellCommand(t.args, env), { width: 200, height: 30 });
      await tmux.waitFor(/<alice> hello bob/, 15_000);
      await tmux.type("hi alice");
      await tmux.keys("Enter");
      assert(
        await eventually(() => t.alice.messages.includes("bob: hi alice")),
        t.alice.received.join("\n"),
      );
      await tmux.waitFor(/<bob> hi alice/);
      const { code, ms, screen } = await tmux.leave();
      assert.equal(code, 0, screen);
      assert(ms <= 2000, `exit ${ms} ms after Ctrl-D`);
      const rows = screen.split("\n").map((row) => row.trimEnd()).filter((row) => row !== "");
      const notices = rows.filter((row) => row.startsWith("*** "));
      assert.equal(notices.length, 2, screen);
      assert.match(notices[0].slice(4), PINNED);
      assert.equal(notices[1], `*** logged in to 127.0.0.1:${t.server.port} as bob`);
      const chat = rows.filter((row) => / <(alice|bob)> /.test(row)).map((row) => row.slice(6));
      assert.deepEqual(chat, ["<alice> hello bob", "<bob> hi alice"]);
      await Deno.remove(config, { recursive: true });
    },
  );
}

test("--json < /dev/null against a server that never answers the login: exit 1 with one reason, nothing on stdout", async () => {
  await using server = new FakeChatServer(seed, { silent: true });
  const config = await Deno.makeTempDir({ prefix: "chat-client-core-" });
  await using client = new ClientProcess(
    ["--addr", `127.0.0.1:${server.port}`, "--nick", "bob", "--ca", seed.certFile, "--json"],
    clientEnv(config),
  );
  const { code } = await client.end(); // Standard input is empty.
  assert.equal(code, 1, client.stderr);
  assert.equal(client.stdout, "");
  const stderr = lines(client.stderr);
  assert.match(stderr[0].replace(/^chat: /, ""), PINNED);
  // Ten seconds after end of input; the login went out a little later (the TLS handshake).
  assert.match(stderr.at(-1)!, /^chat: 127\.0\.0\.1:\d+ did not answer the login within (9|10) s$/);
  assert.deepEqual(stderr.slice(1, -1), [
    `chat: still waiting for 127.0.0.1:${server.port} to answer the login`,
  ]);
  await Deno.remove(config, { recursive: true });
});
