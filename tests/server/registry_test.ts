// Registered nicknames and bans (lib/server/registry.ts, file_registry.ts,
// registry_record.ts): the rules of a change, timed bans ending on a fake
// clock, and the file of --data-dir: kept across a restart and a SIGKILL
// right after the `ok` (a real child process), a torn last line cut off,
// a damaged line refused, a failed fsync refused without a trace.

import assert from "node:assert/strict";
import { join } from "node:path";
import { FatalError, Unavailable } from "../../lib/errors.ts";
import type { LogFile } from "../../lib/server/append_log.ts";
import { openFileRegistry, REGISTRY_FILE } from "../../lib/server/file_registry.ts";
import {
  type Ban,
  LocalRegistry,
  NOT_REGISTERED,
  REGISTERED_ELSEWHERE,
  type RegistryChange,
} from "../../lib/server/registry.ts";
import { decodeChange, encodeChange } from "../../lib/server/registry_record.ts";
import { tempDir } from "./_helpers.ts";

const ALICE = "A1:".repeat(31) + "A1";
const MALLORY = "EE:".repeat(31) + "EE";
const START = new Date("2026-11-27T10:00:00Z");
const MINUTE = 60_000;

/** A clock the test moves. */
function fakeClock() {
  let now = START.getTime();
  return { clock: () => new Date(now), advance: (ms: number) => now += ms };
}

const targets = (bans: Ban[]) => bans.map((ban) => ban.target);

Deno.test("a nickname registered to one identity is refused to another, and freed only by its own", async () => {
  const registry = new LocalRegistry({ clock: () => START });
  const seen: RegistryChange[] = [];
  registry.listen((change) => seen.push(change));
  assert.deepEqual(await registry.register("bob", "Bob", ALICE), { ok: true });
  assert.deepEqual(registry.lookup("bob"), { nickKey: "bob", nickname: "Bob", identity: ALICE });
  assert.deepEqual(await registry.register("bob", "BOB", MALLORY), {
    ok: false,
    reason: REGISTERED_ELSEWHERE,
  });
  assert.deepEqual(await registry.register("bob", "Bob", ALICE), { ok: true }, "again: ok");
  assert.equal(seen.length, 1, "registering again changes nothing");
  assert.deepEqual(await registry.register("bob", "BOB", ALICE), { ok: true });
  assert.equal(registry.lookup("bob")?.nickname, "BOB", "the owner may change its spelling");
  assert.deepEqual(await registry.unregister("bob", MALLORY), {
    ok: false,
    reason: NOT_REGISTERED,
  });
  assert.deepEqual(await registry.unregister("carol", ALICE), {
    ok: false,
    reason: NOT_REGISTERED,
  });
  assert.deepEqual(await registry.unregister("bob", ALICE), { ok: true });
  assert.equal(registry.lookup("bob"), undefined);
  assert.deepEqual(await registry.register("bob", "bob", MALLORY), { ok: true });
  assert.deepEqual(seen.map((change) => change.op), [
    "register",
    "register",
    "unregister",
    "register",
  ]);
  await registry.close();
  await assert.rejects(registry.register("x", "x", ALICE), Unavailable);
});

Deno.test("two identities registering one nickname at once: the first wins, the second is refused", async () => {
  const registry = new LocalRegistry({ clock: () => START });
  const [first, second] = await Promise.all([
    registry.register("bob", "bob", ALICE),
    registry.register("bob", "bob", MALLORY),
  ]);
  assert.deepEqual(first, { ok: true });
  assert.deepEqual(second, { ok: false, reason: REGISTERED_ELSEWHERE });
  assert.equal(registry.lookup("bob")?.identity, ALICE);
});

Deno.test("a timed ban ends by itself; a ban without end stays until unbanned", async () => {
  const { clock, advance } = fakeClock();
  const registry = new LocalRegistry({ clock });
  await registry.ban(MALLORY, new Date(START.getTime() + 10 * MINUTE), "flooding", "alice");
  await registry.ban("10.0.0.7", null, "spam", "alice");
  assert.equal(registry.banned(MALLORY)?.reason, "flooding");
  assert.deepEqual(targets(registry.bans()), [MALLORY, "10.0.0.7"]);
  advance(10 * MINUTE - 1);
  assert.ok(registry.banned(MALLORY), "still in force a millisecond before its end");
  advance(1);
  assert.equal(registry.banned(MALLORY), undefined);
  assert.deepEqual(targets(registry.bans()), ["10.0.0.7"]);
  assert.equal(await registry.unban(MALLORY), false, "an ended ban is no ban to lift");
  advance(365 * 24 * 60 * MINUTE);
  assert.equal(registry.banned("10.0.0.7")?.by, "alice");
  // Banned again: replaced, and now the newest.
  await registry.ban(MALLORY, null, "again", "carol");
  await registry.ban("10.0.0.7", null, "still spam", "carol");
  assert.deepEqual(targets(registry.bans()), [MALLORY, "10.0.0.7"]);
  assert.equal(registry.banned("10.0.0.7")?.reason, "still spam");
  assert.equal(await registry.unban("10.0.0.7"), true);
  assert.equal(await registry.unban("10.0.0.7"), false);
  assert.deepEqual(targets(registry.bans()), [MALLORY]);
});

Deno.test("every change survives the trip through its line; a damaged line says what is wrong", () => {
  const changes: RegistryChange[] = [
    { op: "register", nickKey: "bob", nickname: "Bob \u{1F600}\u202e", identity: ALICE },
    { op: "unregister", nickKey: "bob" },
    {
      op: "ban",
      target: ALICE,
      until: new Date(START.getTime() + 5 * MINUTE),
      reason: "",
      by: "x",
    },
    { op: "ban", target: "::1", until: null, reason: 'a "quoted"\nreason', by: "op" },
    { op: "unban", target: "::1" },
  ];
  for (const change of changes) {
    const line = encodeChange(change);
    assert.ok(line.endsWith("\n") && line.indexOf("\n") === line.length - 1, line);
    assert.deepEqual(decodeChange(line.slice(0, -1)), change);
  }
  const damaged: [string, RegExp][] = [
    ["{", /not JSON/],
    ["[1]", /not a JSON object/],
    ['{"op":"rename"}', /no known op/],
    ['{"op":"register","key":"bob","nickname":"bob","identity":"ab:cd"}', /valid identity/],
    ['{"op":"register","key":"","nickname":"bob","identity":"' + ALICE + '"}', /nickname/],
    ['{"op":"ban","target":"x","until":"tomorrow","reason":"","by":"op"}', /until/],
    ['{"op":"ban","target":"x","until":"2026-13-45T99:00:00Z","reason":"","by":"op"}', /until/],
    ['{"op":"ban","target":"x","until":null,"by":"op"}', /reason/],
    ['{"op":"unban"}', /target/],
  ];
  for (const [text, why] of damaged) {
    const decoded = decodeChange(text);
    assert.equal(typeof decoded, "string", text);
    assert.match(decoded as string, why, text);
  }
});

Deno.test("registrations and bans of --data-dir survive a restart, timed bans still ending", async () => {
  await using tmp = await tempDir("chat-registry-");
  const dir = tmp.path;
  const { clock, advance } = fakeClock();
  const warnings: string[] = [];
  const options = { clock, warn: (text: string) => warnings.push(text) };
  const first = await openFileRegistry(dir, options);
  await first.register("bob", "Bob", ALICE);
  await first.register("carol", "carol", ALICE);
  await first.unregister("carol", ALICE);
  await first.ban(MALLORY, new Date(START.getTime() + 5 * MINUTE), "flooding", "Bob");
  await first.ban("10.0.0.7", null, "spam", "Bob");
  await first.ban("10.0.0.8", null, "spam", "Bob");
  assert.equal(await first.unban("10.0.0.8"), true);
  await first.close();

  const second = await openFileRegistry(dir, options);
  assert.deepEqual(second.lookup("bob"), { nickKey: "bob", nickname: "Bob", identity: ALICE });
  assert.equal(second.lookup("carol"), undefined);
  assert.deepEqual(targets(second.bans()), [MALLORY, "10.0.0.7"]);
  assert.equal(second.banned(MALLORY)?.until?.getTime(), START.getTime() + 5 * MINUTE);
  await second.close();

  advance(5 * MINUTE);
  const third = await openFileRegistry(dir, options);
  assert.deepEqual(targets(third.bans()), ["10.0.0.7"]);
  assert.deepEqual(await third.register("bob", "bob", MALLORY), {
    ok: false,
    reason: REGISTERED_ELSEWHERE,
  });
  await third.close();
  assert.deepEqual(warnings, []);
});

Deno.test("a torn last line is cut off with a warning and loses nothing before it", async () => {
  await using tmp = await tempDir("chat-registry-");
  const dir = tmp.path;
  const path = join(dir, REGISTRY_FILE);
  const lines = [
    encodeChange({ op: "register", nickKey: "bob", nickname: "bob", identity: ALICE }),
    encodeChange({ op: "ban", target: "10.0.0.7", until: null, reason: "spam", by: "bob" }),
  ];
  const torn = encodeChange({ op: "ban", target: MALLORY, until: null, reason: "x", by: "bob" })
    .slice(0, 30);
  await Deno.writeTextFile(path, lines.join("") + torn);
  const warnings: string[] = [];
  const registry = await openFileRegistry(dir, {
    clock: () => START,
    warn: (text) => warnings.push(text),
  });
  assert.equal(warnings.length, 1);
  assert.match(warnings[0], /cut off a torn last line in .*registry\.log \(line 3, 30 bytes/);
  assert.equal(registry.lookup("bob")?.identity, ALICE);
  assert.deepEqual(targets(registry.bans()), ["10.0.0.7"]);
  await registry.ban(MALLORY, null, "again", "bob");
  await registry.close();
  assert.equal(
    await Deno.readTextFile(path),
    lines.join("") +
      encodeChange({ op: "ban", target: MALLORY, until: null, reason: "again", by: "bob" }),
  );
});

Deno.test("a damaged line before the last stops the server with one sentence naming it", async () => {
  await using tmp = await tempDir("chat-registry-");
  const dir = tmp.path;
  const good = encodeChange({ op: "unban", target: "10.0.0.7" });
  for (
    const [bad, why] of [
      ["garbage\n", /line 2 is damaged \(not JSON\)/],
      ['{"op":"register","key":"bob","nickname":"bob","identity":"x"}\n', /valid identity/],
      [new TextDecoder().decode(new Uint8Array([0x7b, 0x0a])), /not JSON/],
    ] as const
  ) {
    await Deno.writeTextFile(join(dir, REGISTRY_FILE), good + bad + good);
    await assert.rejects(
      openFileRegistry(dir, { clock: () => START, warn: () => {} }),
      (error: Error) => {
        assert.ok(error instanceof FatalError);
        assert.match(error.message, /^cannot load the registry: .*registry\.log line 2/);
        assert.match(error.message, why);
        assert.doesNotMatch(error.message, /\n/);
        return true;
      },
    );
  }
  await Deno.writeFile(
    join(dir, REGISTRY_FILE),
    new Uint8Array([...new TextEncoder().encode(good), 0xff, 0x0a]),
  );
  await assert.rejects(
    openFileRegistry(dir, { clock: () => START, warn: () => {} }),
    /line 2 is damaged \(invalid UTF-8\)/,
  );
});

Deno.test("a change the disk refuses is refused, leaves no trace, and the next one goes through", async () => {
  await using tmp = await tempDir("chat-registry-");
  const dir = tmp.path;
  const faults: ("half then fail" | "sync fails")[] = [];
  let failNext = false;
  const wrapLog = (file: LogFile): LogFile => ({
    write: async (bytes) => {
      if (failNext) throw new Error("No space left on device (os error 28)");
      if (faults[0] === "half then fail") {
        faults.shift();
        failNext = true;
        return await file.write(bytes.subarray(0, bytes.length >> 1));
      }
      return await file.write(bytes);
    },
    syncData: async () => {
      if (faults[0] === "sync fails") {
        faults.shift();
        throw new Error("Input/output error");
      }
      await file.syncData();
    },
    truncate: (length) => {
      failNext = false;
      return file.truncate(length);
    },
    seek: (offset, whence) => file.seek(offset, whence),
    close: () => file.close(),
  });
  const registry = await openFileRegistry(dir, { clock: () => START, warn: () => {}, wrapLog });
  await registry.register("bob", "bob", ALICE);
  faults.push("half then fail", "sync fails");
  await assert.rejects(registry.register("carol", "carol", ALICE), Unavailable);
  await assert.rejects(registry.ban("10.0.0.7", null, "spam", "bob"), Unavailable);
  assert.equal(registry.lookup("carol"), undefined, "refused: not applied");
  assert.equal(registry.banned("10.0.0.7"), undefined);
  await registry.register("dave", "dave", ALICE);
  await registry.close();
  const again = await openFileRegistry(dir, { clock: () => START, warn: assert.fail });
  assert.ok(again.lookup("bob") && again.lookup("dave"));
  assert.equal(again.lookup("carol"), undefined);
  assert.deepEqual(again.bans(), []);
  await again.close();
});

Deno.test("a change acknowledged just before a SIGKILL is there after the restart", async () => {
  await using tmp = await tempDir("chat-registry-");
  const dir = tmp.path;
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-read",
      "--allow-write",
      new URL("./_registry_child.ts", import.meta.url).pathname,
      dir,
    ],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  // The child makes changes one after another and says "ok N" after each one resolved.
  let acked = 0;
  const decoder = new TextDecoder();
  const reader = child.stdout.getReader();
  let text = "";
  while (acked < 25) {
    const { value, done } = await reader.read();
    if (done) break;
    text += decoder.decode(value);
    acked = text.match(/^ok \d+$/gm)?.length ?? 0;
  }
  child.kill("SIGKILL");
  reader.releaseLock();
  await child.stdout.cancel();
  const status = await child.status;
  const stderr = decoder.decode(await new Response(child.stderr).arrayBuffer());
  assert.equal(status.signal, "SIGKILL", stderr);
  assert.ok(acked >= 25, `only ${acked} changes acknowledged: ${stderr}`);

  const warnings: string[] = [];
  const registry = await openFileRegistry(dir, {
    clock: () => START,
    warn: (w) => warnings.push(w),
  });
  for (let n = 1; n <= acked; n++) {
    assert.equal(registry.lookup(`nick${n}`)?.identity, ALICE, `change ${n} was acknowledged`);
  }
  assert.ok(warnings.every((w) => /torn last line/.test(w)), warnings.join("\n"));
  await registry.close();
});
