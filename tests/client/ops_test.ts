// The client with the identity and operator extensions of PROTOCOL.md
// §12–§13, as a real process (piped, and on a terminal through tmux) and
// in-process for `--json`, against a fake server that answers frame by
// frame: commands sent only when the server listed their feature, answers
// matched to commands in order (message acks apart), a kick or ban that
// ends the run without a reconnect, logins refused as banned, not invited
// or for a registered nickname.

import assert from "node:assert/strict";
import {
  clientEnv,
  clientShellCommand,
  eventually,
  FakeServer,
  fileCerts,
  lines,
  loginFrame,
  PipeClient,
  Tmux,
} from "./_helpers.ts";
import { testNeeding } from "../_tools.ts";

const test = testNeeding("openssl");
const testTty = testNeeding("openssl", "tmux");
const certs = await fileCerts();

/** What our server lists. */
const ALL = ["presence", "direct", "heartbeat", "identity", "ops"];

/** A fake server and a config dir; `args(nick)` are the client's flags for it. */
async function setup() {
  const server = new FakeServer(certs.caTrue);
  const config = await Deno.makeTempDir({ prefix: "chat-client-ops-" });
  return {
    server,
    config,
    args: (nick = "bob") => [
      "--addr",
      `127.0.0.1:${server.port}`,
      "--nick",
      nick,
      "--ca",
      certs.caTrue.certFile,
    ],
    async [Symbol.asyncDispose]() {
      await server.close();
      await Deno.remove(config, { recursive: true });
    },
  };
}

/** Display lines without their clock. */
const shown = (text: string) =>
  lines(text).map((line) => line.replace(/^\d\d:\d\d /, "")).filter((l) => !l.startsWith("---"));

test("pipe: commands go out in order, each answer (status frames without id) goes to its command, acks apart", async () => {
  await using t = await setup();
  const client = new PipeClient(t.args(), clientEnv(t.config));
  client.type(
    "/register",
    "hello",
    "/kick troll flooding the room",
    "/ban troll 10 flood",
    '/ban "spam bot"',
    "/unban 10.0.0.7",
    "/bans",
    "/unregister",
  );
  const conn = await t.server.accept();
  assert.deepEqual(await conn.next(), loginFrame("bob"));
  await conn.send({ status: "ok", features: ALL }, { event: "who", nicknames: ["bob"] });
  const frames = [];
  for (let i = 0; i < 8; i++) frames.push(await conn.next());
  const hello = frames.find((f) => f.message === "hello")!;
  assert.deepEqual(frames.filter((f) => f !== hello), [
    { command: "register" },
    { command: "kick", nickname: "troll", reason: "flooding the room" },
    { command: "ban", nickname: "troll", reason: "flood", minutes: 10 },
    { command: "ban", nickname: "spam bot" },
    { command: "unban", target: "10.0.0.7" },
    { command: "bans" },
    { command: "unregister" },
  ]);
  // The ack of the message comes between the answers: it carries its id and answers nothing else.
  await conn.send(
    { status: "ok" },
    { status: "ok", id: hello.id },
    { status: "error", reason: "not an operator" },
    { status: "ok" },
    { status: "ok" },
    { status: "error", reason: "not banned" },
    {
      status: "ok",
      bans: [
        { target: "10.0.0.8", until: null, reason: "spam", by: "alice" },
        { target: "AB:CD", until: "2026-12-03T18:00:00+0100", reason: "", by: "carol" },
      ],
    },
    { status: "ok" },
  );
  client.end();
  assert.equal(await client.code, 1, client.stderr);
  assert.deepEqual(shown(client.stdout).filter((l) => l.startsWith("***")), [
    "*** 1 here: bob",
    "*** registered bob: only your identity may log in with it now",
    "*** banned troll for 10 minute(s)",
    "*** banned spam bot until unbanned",
    "*** 2 ban(s):",
    "*** TARGET    UNTIL                 BY     REASON",
    "*** 10.0.0.8  until unbanned        alice  spam",
    "*** AB:CD     2026-12-03 17:00 UTC  carol",
    "*** unregistered bob",
  ]);
  assert.match(client.stderr, /^chat: \/kick troll flooding the room: refused: not an operator$/m);
  assert.match(client.stderr, /^chat: \/unban 10\.0\.0\.7: refused: not banned$/m);
  assert.match(
    client.stderr,
    /^chat: 2 command\(s\) not done:\nchat: {3}\/kick troll flooding the room: refused: not an operator\nchat: {3}\/unban 10\.0\.0\.7: refused: not banned$/m,
  );
  assert.doesNotMatch(client.stderr, /not delivered|not confirmed/);
});

test("pipe: to a server that does not list identity or ops, the commands say so and nothing is sent", async () => {
  await using t = await setup();
  const client = new PipeClient(t.args(), clientEnv(t.config));
  client.type("/register", "/kick troll", "/bans", "hi");
  const conn = await t.server.accept();
  await conn.next();
  await conn.send({ status: "ok", features: ["presence", "direct"] });
  const hi = await conn.next();
  assert.equal(hi.message, "hi");
  await conn.send({ status: "ok", id: hi.id });
  client.end();
  assert.equal(await client.code, 1);
  assert.equal(await conn.ended, "close_notify");
  assert.equal(conn.received.length, 2, conn.received.join(" "));
  assert.match(
    client.stderr,
    /^chat: \/register: this server does not support registered nicknames \(\/register\)$/m,
  );
  assert.match(
    client.stderr,
    /^chat: \/kick troll: this server does not support operator commands \(\/kick\)$/m,
  );
  assert.match(client.stderr, /^chat: 3 command\(s\) not done:/m);
});

test("pipe: kicked by an operator: the reason, exit 1, and no reconnect", async () => {
  await using t = await setup();
  const client = new PipeClient(t.args(), clientEnv(t.config));
  const conn = await t.server.accept();
  await conn.next();
  await conn.send({ status: "ok", features: ALL });
  assert(await eventually(() => client.stderr.includes("logged in")));
  await conn.send({ status: "error", reason: "kicked by alice: enough" });
  await conn.drop();
  assert.equal(await client.code, 1);
  assert.match(
    client.stderr,
    /^chat: kicked by alice: enough \(127\.0\.0\.1:\d+; not reconnecting\)$/m,
  );
  assert.doesNotMatch(client.stderr, /reconnecting in/);
  await new Promise((resolve) => setTimeout(resolve, 1500));
  assert.equal(t.server.conns.length, 1, "no second connection");
});

test("pipe: a login refused as banned, not invited, or for a registered nickname: the reason, exit 1, no retry", async () => {
  const cases = [
    {
      reason: "banned until 2026-12-03T18:00:00+0000: spam",
      says: /an operator banned you; not retrying/,
    },
    {
      reason: "not invited",
      says: /admits only the identities it was given \(`chat identity` prints yours/,
    },
    {
      reason: "nickname is registered",
      says:
        /another identity registered it \(pick another nickname, or present that identity: --identity FILE\)/,
    },
  ];
  for (const { reason, says } of cases) {
    await using t = await setup();
    const client = new PipeClient(t.args(), clientEnv(t.config));
    client.type("hello");
    const conn = await t.server.accept();
    await conn.next();
    await conn.send({ status: "error", reason });
    assert.equal(await client.code, 1, reason);
    const escaped = reason.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
    assert.match(client.stderr, new RegExp(`^chat: login as bob refused: ${escaped}`, "m"));
    assert.match(client.stderr, says);
    assert.equal(conn.received.length, 1, `only the login: ${conn.received.join(" ")}`);
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.equal(t.server.conns.length, 1, "no retry");
  }
});

test("--json: the answers to commands are printed as their frames", async () => {
  await using t = await setup();
  const client = new PipeClient([...t.args(), "--json"], clientEnv(t.config));
  client.type("/register", "/bans");
  const conn = await t.server.accept();
  await conn.next();
  await conn.send({ status: "ok", features: ALL });
  assert.deepEqual(await conn.next(), { command: "register" });
  assert.deepEqual(await conn.next(), { command: "bans" });
  await conn.send(
    { status: "error", reason: "register needs a client certificate" },
    { status: "ok", bans: [] },
  );
  client.end();
  assert.equal(await client.code, 1);
  assert.deepEqual(lines(client.stdout).map((line) => JSON.parse(line)), [
    { status: "ok", features: ALL },
    { status: "error", reason: "register needs a client certificate" },
    { status: "ok", bans: [] },
  ]);
  assert.match(client.stderr, /^chat: \/register: refused: register needs a client certificate$/m);
});

/** The client in tmux with `args`. */
async function tty(config: string, args: string[]) {
  const tmux = new Tmux();
  const env = { ...clientEnv(config), TZ: "UTC", TERM: "xterm-256color" };
  delete (env as Record<string, string>).NO_COLOR;
  await tmux.start(clientShellCommand(args, env), { width: 120, height: 30 });
  return tmux;
}

testTty(
  "terminal: a registered nickname asks for another; /help lists what the server listed; a ban leaves the terminal with the reason, exit 1",
  async () => {
    await using t = await setup();
    await using tmux = await tty(t.config, t.args());
    const conn = await t.server.accept(15_000);
    assert.deepEqual(await conn.next(), loginFrame("bob"));
    await conn.send({ status: "error", reason: "nickname is registered" });
    await tmux.waitFor(/Another nickname \(nickname is registered\):/);
    await tmux.type("bobby");
    await tmux.keys("Enter");
    assert.deepEqual(await conn.next(), loginFrame("bobby"));
    await conn.send({ status: "ok", features: ["identity"] });
    await tmux.waitFor(/logged in .* as bobby/);
    await tmux.keys("/help", "Enter");
    const help = await tmux.waitFor(/\/quit +leave/);
    assert.match(help, /\/register +make your nickname yours/);
    assert.doesNotMatch(help, /\/kick|\/who|\/msg/);
    await tmux.keys("/kick troll", "Enter");
    await tmux.waitFor(/this server does not support operator commands \(\/kick\)/);
    await conn.send({ status: "error", reason: "banned by alice: spam" });
    await conn.drop();
    const screen = await tmux.waitFor(/EXIT=\d+/);
    assert.match(screen, /chat: banned by alice: spam \(127\.0\.0\.1:\d+; not reconnecting\)/);
    assert.match(screen, /EXIT=1/);
    assert.equal(t.server.conns.length, 1, "no reconnect");
    assert.equal(conn.received.length, 2, `the two logins only: ${conn.received.join(" ")}`);
  },
);
