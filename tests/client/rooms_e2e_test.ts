// The client with the room extensions (PROTOCOL.md §9–§11) against our own
// server, both as real processes over real TLS: the login summary, joins and
// leaves, /who, a direct message that reaches only its recipient and looks
// different there, --json, the terminal (Tab completion from presence), and
// our server with the extensions switched off (`--features none`), where
// /who and /msg send nothing. The fake-server tests (rooms_test.ts) pin the
// bytes; these prove the two halves agree.

import assert from "node:assert/strict";
import { clientEnv, clientShellCommand, eventually, lines, ourServer, Tmux } from "./_helpers.ts";
import { testNeeding } from "../_tools.ts";

const testTty = testNeeding("tmux");

/** Display lines without their clock, and without the history's separators. */
const shown = (text: string) =>
  lines(text).map((line) => line.replace(/^\d\d:\d\d /, "")).filter((l) => !l.startsWith("---"));

/** The presence lines (`*** …`) of a client's output that name `nick`. */
const about = (text: string, nick: string) =>
  shown(text).filter((line) => line.startsWith("*** ") && line.includes(nick));

Deno.test("pipe, our server: the summary, joins and leaves, /who, and a /msg only its recipient sees", async () => {
  await using t = await ourServer();
  // A core login and a featured one that is not the recipient: neither may see the direct message.
  const core = await t.typist("dave");
  const erin = await t.typist("erin", ["presence", "direct"]);
  const alice = t.client("alice");
  assert(
    await eventually(() => shown(alice.stdout).includes("*** 3 here: alice, dave, erin"), 20_000),
    alice.stdout + alice.stderr,
  );
  const bob = t.client("bob");
  assert(
    await eventually(
      () => shown(bob.stdout).includes("*** 4 here: alice, bob, dave, erin"),
      20_000,
    ),
    bob.stdout + bob.stderr,
  );
  assert(await eventually(() => about(alice.stdout, "bob").some((l) => / joined$/.test(l))));

  await bob.type("/msg ALICE just between us", "/who", "hello all");
  assert(
    await eventually(() => shown(alice.stdout).includes("*bob* just between us")),
    alice.stdout,
  );
  assert(await eventually(() => shown(alice.stdout).includes("<bob> hello all")), alice.stdout);
  assert(
    await eventually(() =>
      shown(bob.stdout).filter((l) => l.startsWith("*** 4 here")).length === 2
    ),
    bob.stdout,
  );
  await alice.type("/msg bob and back");
  assert(await eventually(() => shown(bob.stdout).includes("*alice* and back")), bob.stdout);
  assert(await eventually(() => erin.messages.includes("bob: hello all")), erin.received.join());

  // bob leaves at the end of his input: alice sees him go, as erin does.
  const bobEnd = await bob.end();
  assert.equal(bobEnd.code, 0, bob.stderr);
  assert(
    await eventually(() => about(alice.stdout, "bob").some((l) => / left \(quit\)$/.test(l)), 8000),
    alice.stdout,
  );
  assert(
    await eventually(() =>
      erin.frames.some((f) => f.event === "leave" && f.nickname === "bob" && f.reason === "quit")
    ),
  );
  const aliceEnd = await alice.end();
  assert.equal(aliceEnd.code, 0, alice.stderr);
  assert(
    await eventually(() => erin.frames.some((f) => f.event === "leave" && f.nickname === "alice")),
  );

  assert.deepEqual(shown(bob.stdout), [
    "*** 4 here: alice, bob, dave, erin",
    "-> ALICE: just between us",
    "<bob> hello all",
    "*** 4 here: alice, bob, dave, erin",
    "*alice* and back",
  ]);
  const aliceLines = shown(alice.stdout);
  assert.deepEqual(aliceLines.filter((l) => !l.startsWith("*** ")), [
    "*bob* just between us",
    "<bob> hello all",
    "-> bob: and back",
  ]);
  // Nobody else got a word of the direct messages; the core login no presence frame at all.
  assert.deepEqual(core.messages, ["bob: hello all"]);
  assert(
    core.frames.every((f) => f.event === undefined && f.to === undefined),
    core.received.join(),
  );
  assert.deepEqual(erin.messages, ["bob: hello all"]);
  assert.deepEqual(
    erin.frames.filter((f) => f.event !== undefined).map((f) => `${f.event} ${f.nickname ?? ""}`),
    ["who ", "join alice", "join bob", "leave bob", "leave alice"],
  );
});

Deno.test("pipe, our server: a /msg to nobody, or to a core login, is refused and reported, exit 1", async () => {
  await using t = await ourServer();
  const alice = await t.typist("alice", ["presence", "direct"]);
  const core = await t.typist("dave");
  const bob = t.client("bob");
  assert(
    await eventually(() => shown(bob.stdout).includes("*** 3 here: alice, bob, dave"), 20_000),
  );
  await bob.type("/msg nobody are you there?", "/msg dave psst", "/msg alice you are");
  assert(await eventually(() => alice.messages.includes("bob -> alice: you are")));
  const { code } = await bob.end();
  assert.equal(code, 1);
  assert.match(bob.stderr, /^chat: not delivered: -> nobody: "are you there\?": .+$/m);
  assert.match(bob.stderr, /^chat: not delivered: -> dave: "psst": .+$/m);
  assert.match(
    bob.stderr,
    /^chat: 2 message\(s\) not delivered:\nchat: {3}\/msg nobody are you there\?\nchat: {3}\/msg dave psst$/m,
  );
  assert.deepEqual(alice.messages, ["bob -> alice: you are"]);
  assert.deepEqual(
    core.messages,
    [],
    "a core login never gets a direct message, nor as public text",
  );
});

Deno.test("--json, our server: the features, who, join, leave and a direct message, as frames", async () => {
  await using t = await ourServer();
  const alice = await t.typist("alice", ["presence", "direct"]);
  const bob = t.client("bob", ["--json"]);
  assert(await eventually(() => bob.stdout.includes('"event":"who"'), 20_000), bob.stderr);
  const carol = await t.typist("carol");
  alice.send({ message: "psst", to: "bob" });
  await carol.close();
  assert(await eventually(() => bob.stdout.includes('"event":"leave"')), bob.stdout);
  await bob.type("/msg alice hi");
  assert(await eventually(() => alice.messages.includes("bob -> alice: hi")));
  const { code } = await bob.end();
  assert.equal(code, 0, bob.stderr);
  const frames = lines(bob.stdout).map((line) => JSON.parse(line));
  const [ok, who, ...rest] = frames;
  assert.equal(ok.status, "ok");
  assert.deepEqual(ok.features.filter((f: string) => f === "presence" || f === "direct"), [
    "presence",
    "direct",
  ]);
  assert.deepEqual(who, { event: "who", nicknames: ["alice", "bob"] });
  const direct = rest.find((f) => f.to !== undefined);
  assert.deepEqual({ ...direct, time: undefined }, {
    from: "alice",
    to: "bob",
    message: "psst",
    time: undefined,
  });
  assert.equal(rest.find((f) => f.event === "join")?.nickname, "carol");
  assert.equal(rest.find((f) => f.event === "leave")?.reason, "quit");
  assert(rest.some((f) => f.status === "ok" && typeof f.id === "string"), "our /msg acked");
});

Deno.test("pipe, our server with --features none: /who and /msg say unsupported and send nothing", async () => {
  await using t = await ourServer(["--features", "none"]);
  const alice = await t.typist("alice", ["presence", "direct"]);
  assert.deepEqual(alice.frames[0], { status: "ok" }, "a core server's answer: no features");
  const bob = t.client("bob");
  await bob.type("/who", "/msg alice secret", "hello");
  assert(await eventually(() => alice.messages.includes("bob: hello"), 20_000), bob.stderr);
  const { code } = await bob.end();
  assert.equal(code, 1, "a /msg was not delivered");
  assert.match(bob.stderr, /^chat: this server does not support presence \(\/who\)$/m);
  assert.match(
    bob.stderr,
    /^chat: not delivered: -> alice: "secret": this server does not support direct messages \(\/msg\)$/m,
  );
  assert.deepEqual(shown(bob.stdout), ["<bob> hello"]);
  assert.deepEqual(alice.messages, ["bob: hello"], "the secret never reached anyone");
  assert(alice.frames.every((f) => f.event === undefined));
});

testTty(
  "terminal, our server: summary, Tab completes a nickname from presence, a /msg in its colour",
  async () => {
    await using t = await ourServer();
    const alice = await t.typist("alice", ["presence", "direct"]);
    await using tmux = new Tmux();
    const env = { ...clientEnv(t.dir), TZ: "UTC", TERM: "xterm-256color" };
    delete (env as Record<string, string>).NO_COLOR;
    await tmux.start(clientShellCommand(t.args("bob"), env), { width: 120, height: 30 });
    await tmux.waitFor(/\*\*\* 2 here: alice, bob/, 20_000);
    const carol = await t.typist("carol", ["presence", "direct"]);
    await tmux.waitFor(/\*\*\* carol joined/);
    await tmux.type("/msg ca");
    await tmux.keys("Tab");
    await tmux.waitFor(/^bob> \/msg carol$/m);
    await tmux.type("only you");
    await tmux.keys("Enter");
    assert(await eventually(() => carol.messages.includes("bob -> carol: only you")));
    await tmux.waitFor(/-> carol: only you/);
    alice.send({ message: "psst bob", to: "bob" });
    await tmux.waitFor(/\*alice\* psst bob/);
    const coloured = await new Deno.Command("tmux", {
      args: ["-L", tmux.socket, "capture-pane", "-p", "-e"],
      stdout: "piped",
    }).output();
    assert(
      new TextDecoder().decode(coloured.stdout).includes("\x1b[95mpsst bob"),
      "a direct message's text is in its colour",
    );
    await carol.close();
    await tmux.waitFor(/\*\*\* carol left \(quit\)/, 8000);
    const { code } = await tmux.leave();
    assert.equal(code, 0);
    assert.deepEqual(alice.messages, [], "nothing of bob's /msg to carol");
  },
);
