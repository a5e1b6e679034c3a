// Identities, registered nicknames and operators (PROTOCOL.md §12–§13)
// against the real server over real TLS, with real client certificates:
// register and the logins it refuses, operator commands refused to anyone
// else, kick and ban seen as leave events, bans of identities and of
// addresses, a timed ban that ends on the injected clock, the invitation
// list read again, and a core client that sees nothing new.

import assert from "node:assert/strict";
import { AccessLists } from "../../lib/server/access.ts";
import { MAX_LISTED_BANS } from "../../lib/server/moderation.ts";
import { LocalRegistry } from "../../lib/server/registry.ts";
import {
  eventually,
  type Frame,
  startServer,
  TestClient,
  type TestServer,
  type TestServerOptions,
} from "./_helpers.ts";
import { attempt, command, identity, login, untilClosed } from "./_identities.ts";

const [OP, ALICE, BOB] = await Promise.all(["op", "alice", "bob"].map(identity));

/** A clock the test moves. */
function fakeClock() {
  let now = Date.parse("2026-11-27T10:00:00Z");
  return { clock: () => new Date(now), advance: (ms: number) => now += ms };
}

/** A server whose operator is OP. */
async function opServer(options: TestServerOptions = {}): Promise<TestServer> {
  const clock = options.clock ?? (() => new Date());
  return await startServer({}, {
    registry: new LocalRegistry({ clock }),
    access: await AccessLists.load({ ops: [OP.fingerprint] }),
    ...options,
  });
}

Deno.test("a login asking for features is told identity and ops", async () => {
  await using server = await opServer();
  await using client = await login(server, "alice", undefined, ["identity"]);
  assert.deepEqual((await client.quiet(0)).length, 0);
  const { client: other, answer } = await attempt(server, "bob", undefined, ["ops"]);
  assert.deepEqual(answer, {
    status: "ok",
    features: ["presence", "direct", "heartbeat", "identity", "ops"],
  });
  await other.close();
});

Deno.test("register binds the nickname to the identity: another identity and none are refused, unregister frees it", async () => {
  await using server = await opServer();
  {
    await using anonymous = await login(server, "anon");
    assert.deepEqual(await command(anonymous, { command: "register" }), {
      status: "error",
      reason: "register needs a client certificate",
    });
    assert.deepEqual(await command(anonymous, { command: "unregister" }), {
      status: "error",
      reason: "nickname is not registered",
    });
  }
  {
    await using alice = await login(server, "Alice", ALICE);
    assert.deepEqual(await command(alice, { command: "register" }), { status: "ok" });
    assert.deepEqual(await command(alice, { command: "register" }), { status: "ok" });
  }
  // Case ignored; another identity, or none: refused, and the connection may try again.
  for (const who of [BOB, undefined]) {
    const { client, answer } = await attempt(server, "alice", who);
    assert.deepEqual(answer, { status: "error", reason: "nickname is registered" });
    await client.send({ command: "login", nickname: "someone-else" });
    assert.equal((await client.next()).status, "ok");
    await client.close();
  }
  const refusal = server.logs.find((line) =>
    line.startsWith("login refused ") && line.includes(`identity=${BOB.fingerprint}`)
  );
  assert.ok(
    refusal?.includes("nick=alice") && refusal.includes("reason=nickname is registered"),
    server.logs.join("\n"),
  );
  {
    await using bob = await login(server, "bob", BOB);
    // Registering a nickname registered to another identity: only by holding it, which it cannot.
    assert.deepEqual(await command(bob, { command: "unregister" }), {
      status: "error",
      reason: "nickname is not registered",
    });
  }
  {
    await using alice = await login(server, "ALICE", ALICE);
    assert.deepEqual(await command(alice, { command: "unregister" }), { status: "ok" });
  }
  await (await login(server, "alice", BOB)).close();
  assert.ok(
    server.logs.some((line) => line.startsWith("registered ") && line.includes(ALICE.fingerprint)),
  );
  assert.ok(server.logs.some((line) => line.startsWith("unregistered ")));
});

Deno.test("operator commands from anyone else are refused and logged", async () => {
  await using server = await opServer();
  await using bob = await login(server, "bob", BOB);
  await using anon = await login(server, "anon");
  for (const client of [bob, anon]) {
    for (
      const frame of [
        { command: "kick", nickname: "anon" },
        { command: "ban", nickname: "anon", minutes: 5 },
        { command: "unban", target: "127.0.0.1" },
        { command: "bans" },
      ]
    ) {
      assert.deepEqual(await command(client, frame), {
        status: "error",
        reason: "not an operator",
      });
    }
  }
  assert.deepEqual(await anon.quiet(100), []);
  assert.deepEqual(await bob.quiet(0), []);
  const refused = server.logs.filter((line) => line.startsWith("not an operator "));
  assert.equal(refused.length, 8);
  assert.ok(
    refused[0].includes(`identity=${BOB.fingerprint}`) && refused[0].includes("command=kick"),
  );
});

Deno.test("kick: the operator gets ok, the target its error frame and a close, watchers a leave `kicked`", async () => {
  await using server = await opServer();
  await using op = await login(server, "op", OP);
  await using watcher = await login(server, "watcher", ALICE, ["presence"]);
  assert.deepEqual(await watcher.next(), { event: "who", nicknames: ["op", "watcher"] });
  const troll = await login(server, "troll");
  assert.equal((await watcher.next()).event, "join");
  assert.deepEqual(await command(op, { command: "kick", nickname: "TROLL", reason: "calm down" }), {
    status: "ok",
  });
  assert.deepEqual(await untilClosed(troll), [
    { status: "error", reason: "kicked by op: calm down" },
  ]);
  await troll.close();
  const leave = await watcher.next();
  assert.deepEqual([leave.event, leave.nickname, leave.reason], ["leave", "troll", "kicked"]);
  // A kick is no ban: back at once. Without a reason, "kicked by OP".
  const again = await login(server, "troll");
  assert.deepEqual(await command(op, { command: "kick", nickname: "troll" }), { status: "ok" });
  assert.deepEqual(await untilClosed(again), [{ status: "error", reason: "kicked by op" }]);
  await again.close();
  assert.deepEqual(await command(op, { command: "kick", nickname: "nobody" }), {
    status: "error",
    reason: "no such nickname",
  });
  const line = server.logs.find((l) => l.startsWith("kick "));
  assert.ok(line?.includes(`identity=${OP.fingerprint}`) && line.includes("whom=TROLL"), line);
  assert.ok(line?.includes("reason=calm down"), line);
});

Deno.test("ban of an identity: every connection of it is cut, its logins refused, listed, until unbanned", async () => {
  await using server = await opServer();
  await using op = await login(server, "op", OP);
  await using watcher = await login(server, "watcher", ALICE, ["presence"]);
  await watcher.next();
  const bob = await login(server, "bob", BOB);
  const bob2 = await login(server, "bob2", BOB);
  await watcher.next();
  await watcher.next();
  assert.deepEqual(await command(op, { command: "ban", nickname: "bob", reason: "spam" }), {
    status: "ok",
  });
  for (const client of [bob, bob2]) {
    assert.deepEqual(await untilClosed(client), [{
      status: "error",
      reason: "banned by op: spam",
    }]);
    await client.close();
  }
  const leaves = [await watcher.next(), await watcher.next()];
  assert.deepEqual(leaves.map((e) => [e.event, e.reason]), [["leave", "banned"], [
    "leave",
    "banned",
  ]]);
  const { client, answer } = await attempt(server, "bobby", BOB);
  assert.deepEqual(answer, { status: "error", reason: "banned: spam" });
  await client.close();
  // Others from the same address, with another identity or none, are not.
  await (await login(server, "anon")).close();
  const bans = await command(op, { command: "bans" });
  assert.deepEqual(bans, {
    status: "ok",
    bans: [{ target: BOB.fingerprint, until: null, reason: "spam", by: "op" }],
  });
  // Typed in lower case without colons, as a person might.
  const typed = BOB.fingerprint.replaceAll(":", "").toLowerCase();
  assert.deepEqual(await command(op, { command: "unban", target: typed }), { status: "ok" });
  assert.deepEqual(await command(op, { command: "unban", target: typed }), {
    status: "error",
    reason: "not banned",
  });
  await (await login(server, "bob", BOB)).close();
  const ban = server.logs.find((line) => line.startsWith("ban "));
  assert.ok(ban?.includes(`target=${BOB.fingerprint}`) && ban.includes("whom=bob"), ban);
  assert.ok(
    server.logs.some((line) => line.startsWith("unban ") && line.includes(BOB.fingerprint)),
  );
});

Deno.test("ban without an identity bans the address; a registered nickname nobody uses bans its identity", async () => {
  await using server = await opServer();
  await using op = await login(server, "op", OP);
  {
    await using alice = await login(server, "alice", ALICE);
    assert.deepEqual(await command(alice, { command: "register" }), { status: "ok" });
  }
  assert.deepEqual(await command(op, { command: "ban", nickname: "alice", minutes: 0 }), {
    status: "ok",
  });
  const refused = await attempt(server, "alice2", ALICE);
  assert.deepEqual(refused.answer, { status: "error", reason: "banned" });
  await refused.client.close();

  const anon = await login(server, "anon");
  const anon2 = await login(server, "anon2");
  await using bob = await login(server, "bob", BOB);
  assert.deepEqual(await command(op, { command: "ban", nickname: "anon", reason: "flood" }), {
    status: "ok",
  });
  for (const client of [anon, anon2]) {
    assert.deepEqual(await untilClosed(client), [{
      status: "error",
      reason: "banned by op: flood",
    }]);
    await client.close();
  }
  // The identities at that address are not banned; a connection without one is.
  assert.deepEqual(await bob.quiet(100), []);
  const again = await attempt(server, "anon3");
  assert.deepEqual(again.answer, { status: "error", reason: "banned: flood" });
  await again.client.close();
  const bans = await command(op, { command: "bans" }) as { bans: Frame[] };
  assert.deepEqual(bans.bans.map((b) => b.target), [ALICE.fingerprint, "127.0.0.1"]);
  assert.deepEqual(await command(op, { command: "unban", target: "127.0.0.1" }), { status: "ok" });
  await (await login(server, "anon")).close();
});

Deno.test("a timed ban ends by itself: refused until its time, then let in and no longer listed", async () => {
  const { clock, advance } = fakeClock();
  await using server = await opServer({ clock });
  await using op = await login(server, "op", OP);
  const bob = await login(server, "bob", BOB);
  assert.deepEqual(
    await command(op, { command: "ban", nickname: "bob", minutes: 10, reason: "cool off" }),
    { status: "ok" },
  );
  assert.deepEqual(await untilClosed(bob), [{ status: "error", reason: "banned by op: cool off" }]);
  await bob.close();
  const refused = await attempt(server, "bob", BOB);
  assert.deepEqual(refused.answer, {
    status: "error",
    reason: "banned until 2026-11-27T10:10:00+0000: cool off",
  });
  await refused.client.close();
  const bans = await command(op, { command: "bans" }) as { bans: Frame[] };
  assert.deepEqual(bans.bans[0].until, "2026-11-27T10:10:00+0000");
  advance(10 * 60_000 + 1000);
  await (await login(server, "bob", BOB)).close();
  assert.deepEqual(await command(op, { command: "bans" }), { status: "ok", bans: [] });
});

Deno.test("bad operator commands get a clear error and change nothing", async () => {
  await using server = await opServer();
  await using op = await login(server, "op", OP);
  await using bob = await login(server, "bob", BOB);
  const cases: [Frame, string][] = [
    [{ command: "ban", nickname: "bob", minutes: -1 }, "minutes must be a non-negative integer"],
    [{ command: "ban", nickname: "bob", minutes: 1.5 }, "minutes must be a non-negative integer"],
    [{ command: "ban", nickname: "bob", minutes: "5" }, "minutes must be a non-negative integer"],
    [{ command: "ban", nickname: 7 }, "nickname must be a string"],
    [{ command: "kick", nickname: "bob", reason: 7 }, "reason must be a string"],
    [
      { command: "kick", nickname: "bob", reason: "x".repeat(301) },
      "reason must be at most 300 characters",
    ],
    [{ command: "unban" }, "target must be an identity or an address"],
    [{ command: "ban", nickname: "\u202ebob" }, "no such nickname"],
  ];
  for (const [frame, reason] of cases) {
    assert.deepEqual(await command(op, frame), { status: "error", reason }, JSON.stringify(frame));
  }
  assert.deepEqual(await bob.quiet(100), []);
  assert.deepEqual(await command(op, { command: "bans" }), { status: "ok", bans: [] });
});

Deno.test("with an invitation list only the invited and the operators log in; a reload takes an edited list", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const file = `${dir}/invited`;
    await Deno.writeTextFile(file, `# the meetup\n${ALICE.fingerprint}\n`);
    const access = await AccessLists.load({ ops: [OP.fingerprint], invitedFile: file });
    await using server = await opServer({ access });
    await (await login(server, "alice", ALICE)).close();
    await (await login(server, "op", OP)).close();
    for (const who of [BOB, undefined]) {
      const { client, answer } = await attempt(server, "bob", who);
      assert.deepEqual(answer, { status: "error", reason: "not invited" });
      await client.close();
    }
    await Deno.writeTextFile(file, `${BOB.fingerprint.replaceAll(":", "")}  # bob now\n`);
    assert.deepEqual(await access.reload(), { ops: 1, invited: 1, problems: [] });
    await (await login(server, "bob", BOB)).close();
    const { client, answer } = await attempt(server, "alice", ALICE);
    assert.deepEqual(answer, { status: "error", reason: "not invited" });
    await client.close();
    assert.ok(
      server.logs.some((line) =>
        line.startsWith("login refused ") && line.includes("reason=not invited") &&
        line.includes(`identity=${ALICE.fingerprint}`)
      ),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a core client sees nothing new: plain ok, and a kick is one error frame before the close", async () => {
  await using server = await opServer();
  await using op = await login(server, "op", OP);
  const core = await TestClient.connect(server);
  await core.send({ command: "login", nickname: "core" });
  assert.equal(await core.nextLine(), '{"status":"ok"}');
  await command(op, { command: "kick", nickname: "core", reason: "bye" });
  assert.equal(await core.nextLine(), '{"status":"error","reason":"kicked by op: bye"}');
  assert.ok(await eventually(() => core.closed, 5000));
  await core.close();
});

Deno.test("a server without the identity and ops features knows no such commands", async () => {
  await using server = await opServer({ features: [] });
  await using op = await login(server, "op", OP);
  for (const name of ["register", "kick", "bans"]) {
    assert.deepEqual(await command(op, { command: name, nickname: "x" }), {
      status: "error",
      reason: `unknown command "${name}"`,
    });
  }
});

Deno.test("answers to commands come in the order the commands were sent, slow and quick alike", async () => {
  await using server = await opServer();
  await using op = await login(server, "op", OP);
  // One write: register waits for the registry, unban and bans do not.
  await op.send(
    [
      { command: "register" },
      { command: "bans" },
      { command: "unban", target: "10.0.0.7" },
      { command: "unregister" },
      { command: "kick", nickname: "nobody" },
    ].map((frame) => JSON.stringify(frame) + "\n").join(""),
  );
  assert.deepEqual(await op.next(), { status: "ok" });
  assert.deepEqual(await op.next(), { status: "ok", bans: [] });
  assert.deepEqual(await op.next(), { status: "error", reason: "not banned" });
  assert.deepEqual(await op.next(), { status: "ok" });
  assert.deepEqual(await op.next(), { status: "error", reason: "no such nickname" });
});

Deno.test("bans lists the newest MAX_LISTED_BANS when there are more", async () => {
  const clock = () => new Date();
  const registry = new LocalRegistry({ clock });
  for (let i = 0; i <= MAX_LISTED_BANS; i++) {
    await registry.ban(`10.0.${i >> 8}.${i & 255}`, null, "r".repeat(300), "op");
  }
  await using server = await opServer({ registry });
  await using op = await login(server, "op", OP);
  const { bans } = await command(op, { command: "bans" }) as { bans: Frame[] };
  assert.equal(bans.length, MAX_LISTED_BANS);
  assert.equal(bans[0].target, "10.0.0.1");
  assert.equal(bans.at(-1)?.target, `10.0.${MAX_LISTED_BANS >> 8}.${MAX_LISTED_BANS & 255}`);
});
