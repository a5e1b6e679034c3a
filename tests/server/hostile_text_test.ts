// Text that would mislead people or break other clients, sent to the real
// server over real TLS (issue 16): nicknames that look like somebody online,
// invisible ones, and message texts that are not valid Unicode.

import assert from "node:assert/strict";
import { eventually, startServer, TestClient } from "./_helpers.ts";

Deno.test("refuses a look-alike of a nickname online as in use, and accepts it once she leaves", async () => {
  await using server = await startServer();
  const alice = await TestClient.login(server, "alice");
  await using mallory = await TestClient.connect(server);
  const lookalikes = [
    "\u0430lice", // Cyrillic а
    "\uff41lice", // fullwidth ａ
    "\u{1d41a}lice", // mathematical bold 𝐚
    "ALIC\u0415", // Latin capitals and a Cyrillic Е
  ];
  for (const nickname of lookalikes) {
    await mallory.send({ command: "login", nickname });
    assert.deepEqual(
      await mallory.next(),
      { status: "error", reason: "nickname already in use" },
      JSON.stringify(nickname),
    );
  }
  await alice.close();
  assert.ok(await eventually(() => server.logs.some((l) => l.startsWith("disconnect"))));
  await mallory.send({ command: "login", nickname: "\u0430lice" });
  assert.deepEqual(await mallory.next(), { status: "ok" });
  // Now the real alice is the one refused: the name is taken, whoever took it first.
  await using late = await TestClient.connect(server);
  await late.send({ command: "login", nickname: "alice" });
  assert.deepEqual(await late.next(), { status: "error", reason: "nickname already in use" });
});

Deno.test("refuses nicknames with invisible characters or line separators, with the reason", async () => {
  await using server = await startServer();
  await using alice = await TestClient.login(server, "alice");
  await using mallory = await TestClient.connect(server);
  const cases: [string, string][] = [
    ["alice\ufe00", "nickname must not contain invisible characters"],
    ["alice\u{e0100}", "nickname must not contain invisible characters"],
    ["alice\u180b", "nickname must not contain invisible characters"],
    ["alice\u17b4", "nickname must not contain invisible characters"],
    ["\u3164", "nickname must not contain invisible characters"],
    ["ali\u2028ce", "nickname must not contain line or paragraph separators"],
  ];
  for (const [nickname, reason] of cases) {
    await mallory.send({ command: "login", nickname });
    assert.deepEqual(await mallory.next(), { status: "error", reason }, JSON.stringify(nickname));
  }
  void alice;
});

Deno.test("refuses a message text with a lone surrogate: not acked, stored or relayed", async () => {
  await using server = await startServer();
  await using bob = await TestClient.login(server, "bob");
  await using alice = await TestClient.login(server, "alice");
  // JSON.stringify writes a lone surrogate as the escape "\ud800", as a hostile client would.
  await bob.send({ message: "x\ud800y", id: "m-1" });
  assert.deepEqual(await bob.next(), {
    status: "error",
    id: "m-1",
    reason: "message must be valid Unicode",
  });
  await bob.send({ message: "\udc00" });
  assert.deepEqual(await bob.next(), { status: "error", reason: "message must be valid Unicode" });
  await bob.send({ message: "a pair is fine: 😀", id: "m-2" });
  assert.deepEqual(await bob.next(), { status: "ok", id: "m-2" });
  assert.equal((await alice.next()).message, "a pair is fine: 😀");
  assert.deepEqual(await alice.quiet(), []);
  assert.equal(server.store.lastSeq, 1);
});

Deno.test("never echoes a lone surrogate back: not in an id, not in a quoted command", async () => {
  await using server = await startServer();
  await using bob = await TestClient.login(server, "bob");
  await bob.send({ message: "hi", id: "m\ud800" });
  const refusedId = await bob.nextLine();
  assert.equal(refusedId, '{"status":"error","reason":"id must be valid Unicode"}');
  await bob.send({ command: "x".repeat(39) + "😀" });
  await bob.send({ command: "a\udc00b" });
  // Cut before the pair rather than inside it; the lone surrogate shown as U+FFFD.
  const expected = [`unknown command "${"x".repeat(39)}…"`, 'unknown command "a\ufffdb"'];
  for (const reason of expected) {
    const line = await bob.nextLine();
    assert.ok(line.isWellFormed() && !/\\ud[89a-f]/.test(line), line);
    assert.deepEqual(JSON.parse(line), { status: "error", reason });
  }
  assert.equal(server.store.lastSeq, 0);
});

Deno.test("invisible and bidi characters in an unknown command reach the log escaped, as text and as JSON", async () => {
  // The issue's list: Arabic letter mark, soft hyphen, the deprecated format
  // characters, tags, an interlinear annotation anchor, the Mongolian vowel separator.
  const hostile = [
    0x061c,
    0x00ad,
    0x206a,
    0x206b,
    0x206c,
    0x206d,
    0x206e,
    0x206f,
    0xe0001,
    0xe0041,
    0xe007f,
    0xfff9,
    0x180e,
  ];
  for (const logFormat of ["text", "json"] as const) {
    await using server = await startServer({}, { logFormat });
    await using mallory = await TestClient.login(server, "mallory");
    for (const code of hostile) {
      const command = `x${String.fromCodePoint(code)}y`;
      await mallory.send({ command });
      assert.equal((await mallory.next()).reason, `unknown command ${JSON.stringify(command)}`);
    }
    const rejected = server.logs.filter((line) => line.includes("frame rejected"));
    assert.equal(rejected.length, hostile.length, server.logs.join(""));
    for (const [i, code] of hostile.entries()) {
      const line = rejected[i];
      const label = `${logFormat}: U+${code.toString(16).toUpperCase()}`;
      assert.ok(!line.includes(String.fromCodePoint(code)), `${label} raw in ${line}`);
      const unit = (n: number) => `\\u${n.toString(16).padStart(4, "0")}`;
      const expected = code > 0xffff
        ? String.fromCodePoint(code).split("").map((c) => unit(c.charCodeAt(0))).join("")
        : unit(code);
      assert.ok(line.includes(expected), `${label}: no ${expected} in ${line}`);
      // The same value for a machine that parses it.
      const value = logFormat === "json"
        ? JSON.parse(line).reason
        : JSON.parse(line.slice(line.indexOf("reason=") + 7, line.lastIndexOf('"') + 1));
      assert.equal(value, `unknown command ${JSON.stringify(`x${String.fromCodePoint(code)}y`)}`);
    }
  }
});
