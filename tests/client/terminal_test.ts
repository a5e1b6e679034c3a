// The client on a real terminal: tmux runs it (each test on its own tmux
// socket, a fixed window size, HOME and XDG_CONFIG_HOME in a temp dir), the
// test types with send-keys and reads the screen with capture-pane, and a
// fake TLS server in the test plays the other side.

import assert from "node:assert/strict";
import {
  clientEnv,
  clientShellCommand,
  eventually,
  FakeServer,
  fileCerts,
  loginFrame,
  makeSeedCert,
  type TestCert,
  Tmux,
} from "./_helpers.ts";
import { testNeeding } from "../_tools.ts";

/** Deno.test for the tests that drive the client in tmux and use certificates made with openssl: skipped without them. */
const test = testNeeding("openssl", "tmux");
// Without openssl there are no certificates, and every test that reads them is skipped.
const certs = await fileCerts();

async function setup(cert: TestCert = certs.caTrue) {
  const server = new FakeServer(cert);
  const config = await Deno.makeTempDir({ prefix: "chat-client-tty-" });
  const tmux = new Tmux();
  const env = { ...clientEnv(config), TZ: "UTC", TERM: "xterm-256color" };
  delete (env as Record<string, string>).NO_COLOR;
  return {
    server,
    tmux,
    config,
    start: (args: string[]) => tmux.start(clientShellCommand(args, env)),
    async [Symbol.asyncDispose]() {
      await tmux.kill();
      await server.close();
      await Deno.remove(config, { recursive: true });
    },
  };
}

/** Starts the client as bob against the fake server and lets it log in; the server's side. */
async function loggedInAsBob(t: Awaited<ReturnType<typeof setup>>) {
  await t.start([
    "--addr",
    `127.0.0.1:${t.server.port}`,
    "--nick",
    "bob",
    "--ca",
    certs.caTrue.certFile,
  ]);
  const conn = await t.server.accept(15_000);
  assert.deepEqual(await conn.next(), loginFrame("bob"));
  await conn.send({ status: "ok" });
  return conn;
}

/** The last non-empty row of the screen (where the input line is). */
function inputRow(screen: string): string {
  return screen.split("\n").filter((row) => row.trim() !== "").at(-1) ?? "";
}

test("typing while messages arrive keeps the partial line intact", async () => {
  await using t = await setup();
  const conn = await loggedInAsBob(t);
  await t.tmux.waitFor(/logged in to 127\.0\.0\.1:\d+ as bob/);
  await t.tmux.type("half a li");
  await t.tmux.waitFor(/bob> half a li$/m);
  await conn.send(
    { from: "alice", message: "hello bob", time: "2017-01-12T20:00:00Z", seq: 1 },
    { from: "carol", message: "two\nlines", time: "2017-01-12T20:01:00Z", seq: 2 },
    { from: "mallory", message: "\x1b[2J\x1b[Hgotcha\rX", time: "2017-01-12T20:02:00Z", seq: 3 },
  );
  const screen = await t.tmux.waitFor(/gotcha/);
  assert.match(screen, /20:00 <alice> hello bob/);
  assert.match(screen, /20:01 <carol> two\n {14}lines/);
  assert.match(screen, /20:02 <mallory> \\x1b\[2J\\x1b\[Hgotcha\\x0dX/);
  assert.equal(inputRow(screen), "bob> half a li");
  // Editing still works on the kept line: finish it and send it.
  await t.tmux.type("ne");
  await t.tmux.keys("Enter");
  const sent = await conn.next();
  assert.equal(sent.message, "half a line");
  const after = await t.tmux.waitFor(/<bob> half a line/);
  assert.equal(inputRow(after), "bob>");
  assert.doesNotMatch(
    after,
    /^bob> half a line/m,
    `the submitted input line is replaced by the chat line:\n${after}`,
  );
  // Colours on a terminal: the nickname is coloured, the hostile text is not.
  const coloured = await new Deno.Command("tmux", {
    args: ["-L", t.tmux.socket, "capture-pane", "-p", "-e"],
    stdout: "piped",
  }).output();
  const raw = new TextDecoder().decode(coloured.stdout);
  assert(/\[\d+m(alice|carol)/.test(raw) && raw.includes("\x1b["), "nicknames are coloured");
  // Up recalls the last line; /help and an unknown command are local notices.
  await t.tmux.keys("/help", "Enter");
  await t.tmux.waitFor(/\/quit +leave/);
  await t.tmux.keys("/nope", "Enter");
  await t.tmux.waitFor(/unknown command \/nope/);
  await t.tmux.keys("Up", "Up");
  await t.tmux.waitFor(/bob> \/help$/m);
  await t.tmux.keys("C-u", "/quit", "Enter");
  await t.tmux.waitFor(/EXIT=0/);
  assert.equal(await conn.ended, "close_notify");
  assert.equal(conn.received.length, 2, "commands are never sent");
});

test("asks for the address and the nickname, and for another nickname after a refusal", async () => {
  await using t = await setup();
  await t.start(["--ca", certs.caTrue.certFile]);
  await t.tmux.waitFor(/Server address \[localhost:1337\]:$/m);
  await t.tmux.type(`127.0.0.1:${t.server.port}`);
  await t.tmux.keys("Enter");
  await t.tmux.waitFor(/Nickname:$/m);
  await t.tmux.type("bad\u202enick");
  await t.tmux.keys("Enter");
  await t.tmux.waitFor(/nickname must not contain control or format characters/);
  await t.tmux.type("bob");
  await t.tmux.keys("Enter");
  const conn = await t.server.accept(15_000);
  assert.deepEqual(await conn.next(), loginFrame("bob"));
  await conn.send({ status: "error", reason: "nickname already in use\x1b[2J" });
  await t.tmux.waitFor(/Another nickname \(nickname already in use\\x1b\[2J\):$/m);
  await t.tmux.type("bobby");
  await t.tmux.keys("Enter");
  assert.deepEqual(await conn.next(), loginFrame("bobby"));
  await conn.send({ status: "ok" });
  await t.tmux.waitFor(/logged in to 127\.0\.0\.1:\d+ as bobby/);
  await t.tmux.waitFor(/^bobby>$/m);
  await t.tmux.keys("C-c");
  await t.tmux.waitFor(/EXIT=0/);
  assert.equal(await conn.ended, "close_notify");
});

test("an untrusted certificate: the fingerprint is shown, yes pins it, the next run does not ask", async () => {
  await using t = await setup();
  const args = ["--addr", `localhost:${t.server.port}`, "--nick", "bob"];
  await t.start(args);
  const prompt = await t.tmux.waitFor(/remember it\? \[y\/N\]$/m);
  assert.match(prompt, /self-signed certificate/);
  assert(prompt.replace(/\s/g, "").includes(certs.caTrue.fingerprint.replace(/\s/g, "")), prompt);
  const conn = await t.server.accept(15_000);
  await new Promise((resolve) => setTimeout(resolve, 200));
  assert.deepEqual(conn.received, [], "nothing is sent before the user answers");
  await t.tmux.type("y");
  await t.tmux.keys("Enter");
  assert.deepEqual(await conn.next(), loginFrame("bob"));
  await conn.send({ status: "ok" });
  await t.tmux.waitFor(/logged in/);
  const pins = await Deno.readTextFile(`${t.config}/chat/known_hosts`);
  assert.match(pins, new RegExp(`^localhost:${t.server.port} ${certs.caTrue.fingerprint}$`, "m"));
  await t.tmux.keys("C-d");
  await t.tmux.waitFor(/EXIT=0/);
  await t.tmux.kill();

  const again = new Tmux();
  try {
    const env = { ...clientEnv(t.config), TZ: "UTC" };
    await again.start(clientShellCommand(args, env));
    const second = await t.server.accept(15_000);
    assert.deepEqual(await second.next(), loginFrame("bob"));
    await second.send({ status: "ok" });
    const screen = await again.waitFor(/logged in/);
    assert.doesNotMatch(screen, /Trust this certificate/);
    await again.keys("C-c");
    await again.waitFor(/EXIT=0/);
  } finally {
    await again.kill();
  }
});

test("the trust prompt shows a certificate's subject as one line: newlines in it forge nothing", async () => {
  const forged = await makeSeedCert(
    certs.dir,
    "/CN=evil\nSHA-256: 3A:9F:00:11\nThis certificate matches yours",
  );
  await using t = await setup(forged);
  await t.start(["--addr", `localhost:${t.server.port}`, "--nick", "bob"]);
  const screen = await t.tmux.waitFor(/\[y\/N\]$/m);
  const rows = screen.split("\n");
  const fingerprints = rows.filter((row) => /^\s*SHA-256:/.test(row));
  assert.equal(fingerprints.length, 1, screen);
  const real = screen.slice(screen.indexOf("  SHA-256: ")).replace(/\s/g, "");
  assert(real.startsWith(`SHA-256:${forged.fingerprint}`), screen);
  assert(!rows.some((row) => /^\s*This certificate matches/.test(row)), screen);
  assert.match(
    screen,
    /^ {2}subject: evil\\x0aSHA-256: 3A:9F:00:11\\x0aThis certificate matches yours$/m,
  );
  await t.tmux.keys("Enter");
  await t.tmux.waitFor(/EXIT=1/);
});

test("an untrusted certificate refused at the prompt: nothing is sent, exit 1", async () => {
  await using t = await setup();
  await t.start(["--addr", `127.0.0.1:${t.server.port}`, "--nick", "bob"]);
  await t.tmux.waitFor(/\[y\/N\]$/m);
  const conn = await t.server.accept(15_000);
  await t.tmux.keys("Enter");
  await t.tmux.waitFor(/EXIT=1/);
  await conn.ended;
  assert.deepEqual(conn.received, []);
  assert(!await eventually(() => t.server.conns.length > 1, 300), "no second attempt");
});

test("the status shows reconnecting with a countdown, and lines typed meanwhile go out after the login", async () => {
  await using t = await setup();
  await t.start([
    "--addr",
    `127.0.0.1:${t.server.port}`,
    "--nick",
    "bob",
    "--ca",
    certs.caTrue.certFile,
  ]);
  const conn = await t.server.accept(15_000);
  await conn.next();
  await conn.send({ status: "ok" }, {
    from: "alice",
    message: "hi",
    time: "2017-01-12T20:00:00Z",
    seq: 7,
  });
  await t.tmux.waitFor(/<alice> hi/);
  await conn.drop();
  await t.tmux.waitFor(/\[reconnecting in \d s\] bob>$/m);
  const again = await t.server.accept(15_000);
  assert.deepEqual(await again.next(), loginFrame("bob", 7));
  await t.tmux.waitFor(/\[logging in…\] bob>$/m);
  // 40 characters end in an emoji: the notice quotes it whole, never half of it.
  const offline = `while offline ${"-".repeat(25)}😀 and more`;
  await t.tmux.type(offline);
  await t.tmux.keys("Enter");
  const notice = await t.tmux.waitFor(/is queued and goes out after the/);
  assert.match(notice, /not connected: "while offline -{25}😀…" is queued/);
  await t.tmux.waitFor(/\[logging in…, 1 queued\] bob>$/m);
  await again.send({ status: "ok" });
  const queued = await again.next();
  assert.equal(queued.message, offline);
  await again.send({ status: "ok", id: queued.id });
  await t.tmux.waitFor(/delivered: "while offline -{25}😀…"/);
  await t.tmux.waitFor(/^bob>$/m);
  await t.tmux.keys("C-c");
  await t.tmux.waitFor(/EXIT=0/);
});

test("a partial line that wraps over several rows survives messages arriving", async () => {
  await using t = await setup();
  const env = { ...clientEnv(t.config), TZ: "UTC" };
  const args = [
    "--addr",
    `127.0.0.1:${t.server.port}`,
    "--nick",
    "bob",
    "--ca",
    certs.caTrue.certFile,
  ];
  await t.tmux.start(clientShellCommand(args, env), { width: 40, height: 20 });
  const conn = await t.server.accept(15_000);
  await conn.next();
  await conn.send({ status: "ok" });
  await t.tmux.waitFor(/logged in/);
  const draft = "0123456789".repeat(8); // 80 characters: three rows with the prompt
  const drawn = [`bob> ${draft.slice(0, 35)}`, draft.slice(35, 75), draft.slice(75)];
  // The draft and the cursor's move are on the screen before anything arrives
  // (under load the client may read the messages before the keys otherwise).
  await t.tmux.type(draft);
  await t.tmux.waitForRows(drawn);
  await t.tmux.keys("Left", "Left", "Left");
  assert.ok(await eventually(async () => (await t.tmux.cursor()).x === 2, 10_000), "cursor moved");
  for (let i = 1; i <= 3; i++) {
    await conn.send({ from: "alice", message: `message ${i}`, time: "2017-01-12T20:00:00Z" });
  }
  await t.tmux.waitForRows([
    "20:00 <alice> message 1",
    "20:00 <alice> message 2",
    "20:00 <alice> message 3",
    ...drawn,
  ]);
  // The cursor stayed where it was: typing inserts three characters before the end.
  assert.ok(await eventually(async () => (await t.tmux.cursor()).x === 2, 10_000), "cursor kept");
  await t.tmux.type("X");
  await t.tmux.keys("Enter");
  assert.equal((await conn.next()).message, `${draft.slice(0, 77)}X${draft.slice(77)}`);
  const after = await t.tmux.waitFor(/<bob> 0123/);
  assert.doesNotMatch(after, /^bob> 0123/m, after);
  await t.tmux.keys("C-c");
  await t.tmux.waitFor(/EXIT=0/);
});

test("Ctrl-D leaves as /quit does: the prompt row is cleared, the shell's next line starts clean", async () => {
  await using t = await setup();
  const conn = await loggedInAsBob(t);
  await t.tmux.waitFor(/^bob>$/m);
  await t.tmux.keys("C-d");
  const screen = await t.tmux.waitFor(/EXIT=0/);
  assert.match(screen, /^EXIT=0/m, `EXIT starts its own row, not after the prompt:\n${screen}`);
  assert.doesNotMatch(screen, /^bob>/m, `the prompt row is cleared:\n${screen}`);
  assert.equal(await conn.ended, "close_notify");
});
