// The registry shared through Redis (lib/server/redis/registry.ts), on a
// private redis-server: a change on one server is seen by the others at
// once (a ban is heard, to cut its target off), refusals hold across
// servers, everything is there for a server that starts later, timed bans
// end, and a server whose subscription missed changes reads everything
// again (a gap, a damaged message, Redis restarting).

import assert from "node:assert/strict";
import { testNeeding } from "../_tools.ts";
import { Unavailable } from "../../lib/errors.ts";
import type { Logger } from "../../lib/server/log.ts";
import {
  NOT_REGISTERED,
  REGISTERED_ELSEWHERE,
  type RegistryChange,
} from "../../lib/server/registry.ts";
import { RedisRegistry } from "../../lib/server/redis/registry.ts";
import {
  REGISTERED_KEY,
  REGISTRY_CHANNEL,
  REGISTRY_VERSION_KEY,
} from "../../lib/server/redis/registry_scripts.ts";
import { encodeChange } from "../../lib/server/registry_record.ts";
import { RedisServer, until } from "./_redis.ts";

const test = testNeeding("redis-server");

const ALICE = "A1:".repeat(31) + "A1";
const MALLORY = "EE:".repeat(31) + "EE";
const START = new Date("2026-11-27T10:00:00Z").getTime();
const MINUTE = 60_000;

/** One server's registry, with what it logged and heard. */
class Node {
  readonly logs: string[] = [];
  readonly heard: RegistryChange[] = [];
  registry!: RedisRegistry;

  static async open(redis: RedisServer, clock = () => new Date()): Promise<Node> {
    const node = new Node();
    const logger: Logger = {
      log: (event, fields = {}) => node.logs.push(`${event} ${JSON.stringify(fields)}`),
    };
    node.registry = await RedisRegistry.open({ url: redis.url, clock, logger });
    node.registry.listen((change) => node.heard.push(change));
    return node;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.registry.close();
  }
}

test("a registration on one server holds on the others, and only its identity frees it", async () => {
  await using redis = await RedisServer.start();
  await using a = await Node.open(redis);
  await using b = await Node.open(redis);
  assert.deepEqual(await a.registry.register("bob", "Bob", ALICE), { ok: true });
  assert.equal(a.registry.lookup("bob")?.identity, ALICE, "seen here once it resolved");
  await until("b to see the registration", () => b.registry.lookup("bob")?.nickname === "Bob");
  assert.deepEqual(await b.registry.register("bob", "bob", MALLORY), {
    ok: false,
    reason: REGISTERED_ELSEWHERE,
  });
  assert.deepEqual(await b.registry.register("bob", "Bob", ALICE), { ok: true }, "again: ok");
  assert.deepEqual(await b.registry.unregister("bob", MALLORY), {
    ok: false,
    reason: NOT_REGISTERED,
  });
  assert.deepEqual(await b.registry.unregister("bob", ALICE), { ok: true });
  await until("a to see it freed", () => a.registry.lookup("bob") === undefined);
  assert.deepEqual(a.heard.map((change) => change.op), ["register", "unregister"]);
  assert.deepEqual(b.heard.map((change) => change.op), ["register", "unregister"]);
  // Two servers at once for one nickname: one wins, everywhere.
  const [x, y] = await Promise.all([
    a.registry.register("carol", "carol", ALICE),
    b.registry.register("carol", "carol", MALLORY),
  ]);
  assert.equal([x, y].filter((r) => r.ok).length, 1);
  const winner = x.ok ? ALICE : MALLORY;
  await until("both to agree", () =>
    a.registry.lookup("carol")?.identity === winner &&
    b.registry.lookup("carol")?.identity === winner);
});

test("a ban on one server is heard on the others at once; timed bans end; a later server loads it all", async () => {
  await using redis = await RedisServer.start();
  let now = START;
  const clock = () => new Date(now);
  await using a = await Node.open(redis, clock);
  await using b = await Node.open(redis, clock);
  await a.registry.ban(MALLORY, new Date(START + 10 * MINUTE), "flooding", "alice");
  await until("b to hear the ban", () => b.heard.some((c) => c.op === "ban"));
  assert.deepEqual(b.heard[0], {
    op: "ban",
    target: MALLORY,
    until: new Date(START + 10 * MINUTE),
    reason: "flooding",
    by: "alice",
  });
  assert.equal(b.registry.banned(MALLORY)?.reason, "flooding");
  await b.registry.ban("10.0.0.7", null, "spam", "bob");
  await until("a to hear it", () => a.registry.banned("10.0.0.7") !== undefined);
  assert.deepEqual(a.registry.bans().map((ban) => ban.target), [MALLORY, "10.0.0.7"]);

  now += 10 * MINUTE;
  assert.equal(a.registry.banned(MALLORY), undefined, "ended by itself");
  assert.deepEqual(b.registry.bans().map((ban) => ban.target), ["10.0.0.7"]);
  assert.equal(await a.registry.unban(MALLORY), false, "an ended ban is no ban to lift");

  await a.registry.register("bob", "Bob", ALICE);
  await using c = await Node.open(redis, clock);
  assert.equal(c.registry.lookup("bob")?.identity, ALICE);
  assert.deepEqual(c.registry.bans().map((ban) => ban.target), ["10.0.0.7"]);
  assert.equal(await c.registry.unban("10.0.0.7"), true);
  assert.equal(await c.registry.unban("10.0.0.7"), false);
  await until("a to hear the unban", () => a.registry.banned("10.0.0.7") === undefined);
  assert.deepEqual(a.logs, []);
});

test("a change heard out of turn or damaged makes a server read everything again", async () => {
  await using redis = await RedisServer.start();
  await using a = await Node.open(redis);
  await a.registry.register("bob", "bob", ALICE);
  // Another program changes Redis behind the servers' backs and says so out of turn.
  const carol = encodeChange({
    op: "register",
    nickKey: "carol",
    nickname: "carol",
    identity: ALICE,
  })
    .trim();
  await redis.command("HSET", REGISTERED_KEY, "carol", carol);
  await redis.command("INCRBY", REGISTRY_VERSION_KEY, "5");
  await redis.command("PUBLISH", REGISTRY_CHANNEL, `7 ${carol}`);
  await until("a to read everything again", () => a.registry.lookup("carol") !== undefined, 5_000);
  assert.ok(a.registry.lookup("bob"));
  assert.ok(a.heard.some((c) => c.op === "register" && c.nickKey === "carol"));
  // A change that does not read: a warning, and everything read again.
  await redis.command("HDEL", REGISTERED_KEY, "bob");
  await redis.command("PUBLISH", REGISTRY_CHANNEL, "8 not a record");
  await until("a to drop bob", () => a.registry.lookup("bob") === undefined);
  assert.match(a.logs.join("\n"), /does not read \(not JSON\)/);
  // And in turn again afterwards.
  await a.registry.register("dave", "dave", MALLORY);
  assert.equal(a.registry.lookup("dave")?.identity, MALLORY);
});

test("while Redis is away changes are refused and reads go on; back, a server catches up", async () => {
  await using redis = await RedisServer.start();
  await using a = await Node.open(redis);
  await using b = await Node.open(redis);
  await a.registry.ban(MALLORY, null, "spam", "alice");
  await until("b to hear it", () => b.registry.banned(MALLORY) !== undefined);
  await redis.stop();
  await assert.rejects(a.registry.register("bob", "bob", ALICE), Unavailable);
  assert.ok(b.registry.banned(MALLORY), "reads go on from the copy");
  await redis.restart();
  // The first changes after the restart may find a connection not yet back: retried.
  await until("a change to go through", async () => {
    try {
      await a.registry.register("bob", "bob", ALICE);
      return true;
    } catch {
      return false;
    }
  }, 10_000);
  await until("b to catch up", () => b.registry.lookup("bob")?.identity === ALICE, 10_000);
  assert.ok(b.registry.banned(MALLORY));
});
