// The client with the room extensions of PROTOCOL.md §9–§11, as a real
// process (piped, and on a terminal through tmux) and in-process for
// `--json`: against the fake server speaking §9–§11
// (tests/check/_fake_server.ts with `rooms`), other people typing frames
// (Typist), and core servers that must see nothing new. What it shows (the
// summary, joins and leaves folded, direct messages each way), what it
// sends (/msg with `to`, /who), and what it refuses to send.

import assert from "node:assert/strict";
import { FakeChatServer } from "../check/_fake_server.ts";
import {
  clientEnv,
  ClientProcess,
  clientShellCommand,
  eventually,
  FakeServer,
  fileCerts,
  lines,
  loginFrame,
  PipeClient,
  type TestCert,
  Tmux,
  Typist,
} from "./_helpers.ts";
import { testNeeding } from "../_tools.ts";

/** Deno.test for the tests that use certificates made with openssl: skipped without it. */
const test = testNeeding("openssl");
/** The same for the ones that also drive the client in tmux. */
const testTty = testNeeding("openssl", "tmux");
const certs = await fileCerts();

/** What another client asks for to get the room's frames. */
const FEATURES = ["presence", "direct"];

/** A fake server speaking §9–§11 (or, with `rooms: false`, only the core), and a config dir. */
async function setup(rooms = true) {
  const cert: TestCert = certs.caTrue;
  const server = new FakeChatServer(cert, { rooms, seq: true, acks: true });
  const config = await Deno.makeTempDir({ prefix: "chat-client-rooms-" });
  const people: Typist[] = [];
  return {
    server,
    config,
    args: ["--addr", `127.0.0.1:${server.port}`, "--nick", "bob", "--ca", cert.certFile],
    /** Someone else logs in (with the room's features unless `core`). */
    async join(nickname: string, core = false): Promise<Typist> {
      const typist = await Typist.login(server.port, nickname, core ? undefined : FEATURES);
      people.push(typist);
      return typist;
    },
    async [Symbol.asyncDispose]() {
      await Promise.all(people.map((typist) => typist.close().catch(() => {})));
      await server.close();
      await Deno.remove(config, { recursive: true });
    },
  };
}

/** Display lines without their clock. */
const clockless = (text: string) => lines(text).map((line) => line.replace(/^\d\d:\d\d /, ""));

test("pipe: the summary, joins and leaves, a direct message each way, /who, and what is refused", async () => {
  await using t = await setup();
  const alice = await t.join("alice");
  await using client = new ClientProcess(t.args, clientEnv(t.config));
  assert(
    await eventually(() => client.stdout.includes("*** 2 here: alice, bob"), 15_000),
    client.stderr,
  );
  assert(
    await eventually(() => alice.frames.some((f) => f.event === "join" && f.nickname === "bob")),
  );
  alice.send({ message: "psst bob", to: "bob", id: "a1" });
  assert(await eventually(() => client.stdout.includes("*alice* psst bob")), client.stdout);
  const carol = await t.join("carol");
  assert(await eventually(() => client.stdout.includes("*** carol joined")), client.stdout);
  await client.type(
    "/msg alice hi there",
    "/msg nobody anyone?",
    "/who",
    "/mgs alice oops",
    "public line",
  );
  assert(
    await eventually(() => alice.messages.includes("bob: public line")),
    alice.received.join("\n"),
  );
  assert(
    await eventually(() => client.stdout.includes("*** 3 here: alice, bob, carol")),
    client.stdout,
  );
  await carol.close();
  assert(
    await eventually(() => client.stdout.includes("*** carol left (quit)"), 8000),
    client.stdout,
  );
  const { code } = await client.end();
  assert.equal(code, 1, "a direct message was refused and a line was not sent");
  assert.deepEqual(
    alice.messages,
    ["bob -> alice: hi there", "bob: public line"],
    "nothing else, no leak",
  );
  assert.deepEqual(clockless(client.stdout).filter((line) => !line.startsWith("---")), [
    "*** 2 here: alice, bob",
    "*alice* psst bob",
    "*** carol joined",
    "-> alice: hi there",
    "-> nobody: anyone?",
    "<bob> public line",
    "*** 3 here: alice, bob, carol",
    "*** carol left (quit)",
  ]);
  assert.match(client.stderr, /^chat: not delivered: -> nobody: "anyone\?": nobody by that name$/m);
  assert.match(client.stderr, /^chat: unknown command \/mgs: not sent/m);
  assert.match(client.stderr, /^chat: 1 line\(s\) not sent:\nchat: {3}\/mgs alice oops$/m);
  assert.match(
    client.stderr,
    /^chat: 1 message\(s\) not delivered:\nchat: {3}\/msg nobody anyone\?$/m,
  );
});

test("pipe to a core server: /msg and /who send nothing; the login's features are all it sees of §9", async () => {
  await using server = new FakeServer(certs.caTrue);
  const config = await Deno.makeTempDir({ prefix: "chat-client-rooms-" });
  try {
    const client = new PipeClient(
      ["--addr", `127.0.0.1:${server.port}`, "--nick", "bob", "--ca", certs.caTrue.certFile],
      clientEnv(config),
    );
    client.type("/who", "/msg alice secret", "hello", "/msg alice again");
    const conn = await server.accept();
    assert.deepEqual(await conn.next(), loginFrame("bob"));
    await conn.send({ status: "ok" }); // No features: a core server.
    const hello = await conn.next();
    assert.deepEqual(Object.keys(hello).sort(), ["id", "message"]);
    assert.equal(hello.message, "hello");
    await conn.send({ status: "ok", id: hello.id });
    client.end();
    assert.equal(await client.code, 1);
    assert.equal(await conn.ended, "close_notify");
    assert.equal(conn.received.length, 2, `only the login and "hello": ${conn.received.join(" ")}`);
    assert.match(client.stderr, /^chat: this server does not support presence \(\/who\)$/m);
    assert.match(
      client.stderr,
      /^chat: not delivered: -> alice: "secret": this server does not support direct messages \(\/msg\)$/m,
    );
    assert.match(
      client.stderr,
      /^chat: 2 message\(s\) not delivered:\nchat: {3}\/msg alice secret\nchat: {3}\/msg alice again$/m,
    );
    assert.deepEqual(clockless(client.stdout).filter((line) => !line.startsWith("---")), [
      "<bob> hello",
    ]);
  } finally {
    await Deno.remove(config, { recursive: true });
  }
});

test("pipe: // sends a line that starts with /, and /quit ends the input there", async () => {
  await using server = new FakeServer(certs.caTrue);
  const config = await Deno.makeTempDir({ prefix: "chat-client-rooms-" });
  try {
    const client = new PipeClient(
      ["--addr", `127.0.0.1:${server.port}`, "--nick", "bob", "--ca", certs.caTrue.certFile],
      clientEnv(config),
    );
    client.type("one", "//usr/bin/env failed", "/quit", "never read");
    const conn = await server.accept();
    await conn.next();
    await conn.send({ status: "ok" });
    const sent = [await conn.next(), await conn.next()];
    assert.deepEqual(sent.map((f) => f.message), ["one", "/usr/bin/env failed"]);
    for (const frame of sent) await conn.send({ status: "ok", id: frame.id });
    assert.equal(await client.code, 0, client.stderr);
    assert.equal(await conn.ended, "close_notify");
    assert.equal(conn.received.length, 3, conn.received.join(" "));
  } finally {
    await Deno.remove(config, { recursive: true });
  }
});

test("pipe to a core chat server: a /msg never reaches anyone as public text", async () => {
  await using t = await setup(false);
  const alice = await t.join("alice", true);
  await using client = new ClientProcess(t.args, clientEnv(t.config));
  await client.type("/msg alice secret", "hello alice");
  assert(
    await eventually(() => alice.messages.includes("bob: hello alice"), 15_000),
    client.stderr,
  );
  const { code } = await client.end();
  assert.equal(code, 1);
  assert.deepEqual(alice.messages, ["bob: hello alice"]);
  assert(alice.frames.every((f) => f.event === undefined), "a core login gets no presence frame");
});

test("--json prints presence events and direct messages as their frames, and never our own lines", async () => {
  await using t = await setup();
  const alice = await t.join("alice");
  const client = new PipeClient([...t.args, "--json"], clientEnv(t.config));
  assert(await eventually(() => client.stdout.includes('"event":"who"'), 15_000), client.stderr);
  alice.send({ message: "psst", to: "bob" });
  const carol = await t.join("carol", true);
  await carol.close();
  client.type("/msg alice hi", "/who");
  assert(await eventually(() => alice.messages.includes("bob -> alice: hi")));
  assert(
    await eventually(() => lines(client.stdout).filter((l) => l.includes('"who"')).length === 2),
  );
  client.end();
  assert.equal(await client.code, 0, client.stderr);
  const frames = lines(client.stdout).map((line) => JSON.parse(line));
  const kinds = frames.map((f) => f.event ?? (f.to ? "direct" : f.status ? "status" : "message"));
  assert.deepEqual(kinds, ["status", "who", "direct", "join", "leave", "status", "who"]);
  assert.deepEqual(frames[0].features, ["presence", "direct"]);
  assert.deepEqual(frames[1], { event: "who", nicknames: ["alice", "bob"] });
  assert.equal(frames[2].from, "alice");
  assert.equal(frames[4].reason, "quit");
  assert.equal(frames[5].id !== undefined, true, "the ack of our direct message");
});

/** The client in tmux against `args`, colours on. */
async function tty(config: string, args: string[], size = { width: 120, height: 40 }) {
  const tmux = new Tmux();
  const env = { ...clientEnv(config), TZ: "UTC", TERM: "xterm-256color" };
  delete (env as Record<string, string>).NO_COLOR;
  await tmux.start(clientShellCommand(args, env), size);
  return tmux;
}

/** The last non-empty row of the screen (where the input line is). */
function inputRow(screen: string): string {
  return screen.split("\n").filter((row) => row.trim() !== "").at(-1) ?? "";
}

testTty(
  "terminal: the summary, a direct message in its colour, Tab completes nicknames, /msg and /help",
  async () => {
    await using t = await setup();
    const alice = await t.join("alice");
    const carol = await t.join("carol");
    await using tmux = await tty(t.config, t.args);
    await tmux.waitFor(/\*\*\* 3 here: alice, bob, carol/, 15_000);
    alice.send({ message: "psst bob", to: "bob" });
    await tmux.waitFor(/\d\d:\d\d \*alice\* psst bob/);
    const coloured = await new Deno.Command("tmux", {
      args: ["-L", tmux.socket, "capture-pane", "-p", "-e"],
      stdout: "piped",
    }).output();
    const raw = new TextDecoder().decode(coloured.stdout);
    assert(raw.includes("\x1b[95mpsst bob"), "the text of a direct message is in its colour");
    // Tab at the start of the line: "carol: ".
    await tmux.type("ca");
    await tmux.keys("Tab");
    await tmux.waitFor(/^bob> carol:$/m); // tmux drops the trailing space.
    await tmux.type("hi");
    await tmux.keys("Enter");
    assert(
      await eventually(() => carol.messages.includes("bob: carol: hi")),
      carol.received.join("\n"),
    );
    // After /msg: the nickname and a space.
    await tmux.type("/msg AL");
    await tmux.keys("Tab");
    await tmux.waitFor(/^bob> \/msg alice$/m);
    await tmux.type("just you");
    await tmux.keys("Enter");
    assert(await eventually(() => alice.messages.includes("bob -> alice: just you")));
    await tmux.waitFor(/-> alice: just you/);
    await tmux.keys("/help", "Enter");
    const help = await tmux.waitFor(/\/quit +leave/);
    assert.match(help, /\/who +who is here/);
    assert.match(help, /\/msg NICK TEXT +a direct message: only NICK sees it/);
    await tmux.keys("/who", "Enter");
    await tmux.waitFor(
      /\*\*\* 3 here: alice, bob, carol\n(.*\n)*.*\*\*\* 3 here: alice, bob, carol/,
    );
    assert.equal(inputRow(await tmux.screen()), "bob>");
    const { code } = await tmux.leave();
    assert.equal(code, 0);
    assert.deepEqual(alice.messages, ["bob: carol: hi", "bob -> alice: just you"]);
  },
);

testTty(
  "terminal: a busy moment folds joins and leaves into one line each, never holding back a message",
  async () => {
    await using t = await setup();
    const alice = await t.join("alice");
    await using tmux = await tty(t.config, t.args);
    await tmux.waitFor(/\*\*\* 2 here: alice, bob/, 15_000);
    const crowd: Typist[] = [];
    for (let i = 1; i <= 3; i++) crowd.push(await t.join(`guest${i}`));
    // A message while joins are folded: the fold is shown first, at once, then the message.
    alice.send({ message: "welcome all" });
    const screen = await tmux.waitFor(/<alice> welcome all/);
    assert.match(
      screen,
      /\*\*\* guest1 joined\n\*\*\* guest2 and guest3 joined\n(--- .* ---\n)?.*<alice> welcome all/,
    );
    for (let i = 4; i <= 8; i++) crowd.push(await t.join(`guest${i}`));
    await tmux.waitFor(/\*\*\* guest4, guest5, guest6 and 2 others joined/, 8000);
    await Promise.all(crowd.map((typist) => typist.close()));
    const left = await tmux.waitFor(/and \d others? left \(quit\)/, 8000);
    assert.match(left, /\*\*\* (guest\d, ){2}guest\d and 5 others left \(quit\)/);
    const { code } = await tmux.leave();
    assert.equal(code, 0);
  },
);

testTty(
  "terminal against a core server: /who and /msg say it is not supported, and nothing is sent",
  async () => {
    await using server = new FakeServer(certs.caTrue);
    const config = await Deno.makeTempDir({ prefix: "chat-client-rooms-" });
    try {
      await using tmux = await tty(config, [
        "--addr",
        `127.0.0.1:${server.port}`,
        "--nick",
        "bob",
        "--ca",
        certs.caTrue.certFile,
      ]);
      const conn = await server.accept(15_000);
      assert.deepEqual(await conn.next(), loginFrame("bob"));
      await conn.send({ status: "ok" });
      await tmux.waitFor(/logged in/);
      await tmux.keys("/who", "Enter");
      await tmux.waitFor(/this server does not support presence \(\/who\)/);
      await tmux.keys("/msg alice secret", "Enter");
      await tmux.waitFor(/not sent: this server does not support direct messages \(\/msg\)/);
      await tmux.type("ali");
      await tmux.keys("Tab");
      await new Promise((resolve) => setTimeout(resolve, 300));
      assert.equal(
        inputRow(await tmux.screen()),
        "bob> ali",
        "nobody to complete without presence",
      );
      await tmux.keys("C-u");
      const { code } = await tmux.leave();
      assert.equal(code, 0);
      assert.equal(await conn.ended, "close_notify");
      assert.equal(conn.received.length, 1, `only the login: ${conn.received.join(" ")}`);
    } finally {
      await Deno.remove(config, { recursive: true });
    }
  },
);
