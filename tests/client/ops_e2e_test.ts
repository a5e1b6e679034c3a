// The client with identities and operators (PROTOCOL.md §12–§13) against
// our own server, both as real processes over real TLS, each client with
// its own identity file (`--identity`), the operator named by its
// fingerprint (`chat identity`, then `chat server --op`): kick and ban as
// the one cut off, the operator and a witness see them, a banned identity
// refused at login without a retry, /bans and /unban, a non-operator
// refused, and a registered nickname refused to another identity and to
// none (on a terminal: asked for another nickname).

import assert from "node:assert/strict";
import { runChat } from "../../bench/chat_process.ts";
import {
  clientEnv,
  clientShellCommand,
  eventually,
  lines,
  ourServer,
  Tmux,
  type Typist,
} from "./_helpers.ts";
import { testNeeding } from "../_tools.ts";

const testTty = testNeeding("tmux");

/** `chat identity --identity FILE`: makes the identity and returns its fingerprint. */
async function identity(file: string): Promise<string> {
  const { code, stdout, stderr } = await runChat(["identity", "--identity", file]);
  assert.equal(code, 0, stderr);
  return stdout.trim();
}

/** Our server with alice's identity as its operator; `t.client(nick, who)` presents DIR/WHO.pem. */
async function moderatedServer() {
  const t = await ourServer(async (dir) => ["--op", await identity(`${dir}/alice.pem`)]);
  const flags = (who: string | null) =>
    who === null ? ["--no-identity"] : ["--identity", `${t.dir}/${who}.pem`];
  const { client, args } = t;
  return Object.assign(t, {
    /** `chat client --nick NICK --identity DIR/WHO.pem` (no identity for null), piped. */
    client: (nick: string, who: string | null = nick) => client(nick, flags(who)),
    /** The client's flags as `nick` with identity `who`. */
    args: (nick: string, who: string | null) => [...args(nick), ...flags(who)],
    /** Someone watching presence, without an identity. */
    watcher: (nick: string) => t.typist(nick, ["presence"]),
  });
}

/** Display lines without their clock. */
const shown = (text: string) => lines(text).map((line) => line.replace(/^\d\d:\d\d /, ""));

/** The leave events a watcher saw, as `nick reason`. */
const leaves = (typist: Typist) =>
  typist.frames.filter((f) => f.event === "leave").map((f) => `${f.nickname} ${f.reason}`);

Deno.test("our server: an operator's kick and ban end the other's client without a reconnect; a banned identity is refused; /bans and /unban", async () => {
  await using t = await moderatedServer();
  const trollId = await identity(`${t.dir}/troll.pem`);
  const witness = await t.watcher("witness");
  const alice = t.client("alice");
  assert(await eventually(() => alice.stderr.includes("logged in"), 20_000), alice.stderr);

  const troll = t.client("troll");
  assert(await eventually(() => troll.stderr.includes("logged in"), 20_000), troll.stderr);
  await alice.type("/kick troll enough");
  assert(await eventually(() => shown(alice.stdout).includes("*** kicked troll")), alice.stdout);
  const kicked = await troll.end();
  assert.equal(kicked.code, 1);
  assert.match(
    troll.stderr,
    /^chat: kicked by alice: enough \(127\.0\.0\.1:\d+; not reconnecting\)$/m,
  );
  assert.doesNotMatch(troll.stderr, /reconnecting in/);

  const again = t.client("troll");
  assert(await eventually(() => again.stderr.includes("logged in"), 20_000), again.stderr);
  await alice.type("/ban troll spam");
  assert(
    await eventually(() => shown(alice.stdout).includes("*** banned troll until unbanned")),
    alice.stdout + alice.stderr,
  );
  assert.equal((await again.end()).code, 1);
  assert.match(
    again.stderr,
    /^chat: banned by alice: spam \(127\.0\.0\.1:\d+; not reconnecting\)$/m,
  );
  assert(await eventually(() => leaves(witness).includes("troll banned")), witness.received.join());
  assert.deepEqual(leaves(witness), ["troll kicked", "troll banned"]);

  // The ban holds the identity, whatever nickname it tries.
  const refused = t.client("troll2", "troll");
  assert.equal((await refused.end()).code, 1);
  assert.match(
    refused.stderr,
    /^chat: login as troll2 refused: banned: spam \(an operator banned you; not retrying\)$/m,
  );

  await alice.type("/bans");
  assert(await eventually(() => shown(alice.stdout).includes("*** 1 ban(s):")), alice.stdout);
  assert(
    await eventually(() =>
      shown(alice.stdout).some((l) => l.startsWith(`*** ${trollId}  until unbanned  alice  spam`))
    ),
    alice.stdout,
  );
  await alice.type(`/unban ${trollId}`);
  assert(await eventually(() => shown(alice.stdout).includes(`*** unbanned ${trollId}`)));
  const back = t.client("troll");
  await back.type("sorry");
  assert(await eventually(() => witness.messages.includes("troll: sorry"), 20_000), back.stderr);
  assert.equal((await back.end()).code, 0, back.stderr);
  assert.equal((await alice.end()).code, 0, alice.stderr);
});

Deno.test("our server: a non-operator's /kick, /ban and /bans are refused, reported, exit 1; nobody is cut", async () => {
  await using t = await moderatedServer();
  const witness = await t.watcher("witness");
  const bob = t.client("bob");
  await bob.type("/kick witness", "/ban witness 5 x", "/bans", "still friends");
  assert(await eventually(() => witness.messages.includes("bob: still friends"), 20_000));
  const { code } = await bob.end();
  assert.equal(code, 1);
  assert.match(
    bob.stderr,
    /^chat: 3 command\(s\) not done:\nchat: {3}\/kick witness: refused: not an operator\nchat: {3}\/ban witness 5 x: refused: not an operator\nchat: {3}\/bans: refused: not an operator$/m,
  );
  assert(await eventually(() => leaves(witness).length > 0), "bob's leave");
  assert.deepEqual(leaves(witness), ["bob quit"], "bob left by himself; nobody was kicked");
});

Deno.test("our server: a registered nickname is refused to another identity and to none; unregistered, it is free", async () => {
  await using t = await moderatedServer();
  const bob = t.client("bob");
  await bob.type("/register");
  assert(
    await eventually(
      () =>
        shown(bob.stdout).includes("*** registered bob: only your identity may log in with it now"),
      20_000,
    ),
    bob.stdout + bob.stderr,
  );
  assert.equal((await bob.end()).code, 0, bob.stderr);
  for (const who of ["mallory", null]) {
    const impostor = t.client("Bob", who);
    await impostor.type("it is me");
    assert.equal((await impostor.end()).code, 1, String(who));
    assert.match(
      impostor.stderr,
      /^chat: login as Bob refused: nickname is registered: another identity registered it \(pick another nickname, or present that identity: --identity FILE\)$/m,
    );
  }
  const owner = t.client("BOB", "bob");
  await owner.type("/unregister");
  assert(await eventually(() => shown(owner.stdout).includes("*** unregistered BOB"), 20_000));
  assert.equal((await owner.end()).code, 0, owner.stderr);
  const free = t.client("bob", "mallory");
  await free.type("mine now");
  assert.equal((await free.end()).code, 0, free.stderr);
});

testTty(
  "terminal, our server: a registered nickname asks for another, and the chat goes on under it",
  async () => {
    await using t = await moderatedServer();
    const bob = t.client("bob");
    await bob.type("/register");
    assert(await eventually(() => bob.stdout.includes("*** registered bob"), 20_000), bob.stderr);
    const witness = await t.watcher("witness");
    await using tmux = new Tmux();
    const env = { ...clientEnv(t.dir), TZ: "UTC", TERM: "xterm-256color" };
    await tmux.start(clientShellCommand(t.args("bob", "mallory"), env), { width: 120, height: 30 });
    await tmux.waitFor(/Another nickname \(nickname is registered\):/, 20_000);
    await tmux.type("mallory");
    await tmux.keys("Enter");
    await tmux.waitFor(/logged in to .* as mallory/);
    await tmux.type("hello as myself");
    await tmux.keys("Enter");
    assert(await eventually(() => witness.messages.includes("mallory: hello as myself")));
    const { code } = await tmux.leave();
    assert.equal(code, 0);
    assert.equal((await bob.end()).code, 0, bob.stderr);
  },
);
