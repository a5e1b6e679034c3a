// The room as the client keeps it (lib/client/room.ts): the features the
// server listed, who is here, and the who command sent only to a server
// that listed presence.

import assert from "node:assert/strict";
import {
  CLIENT_FEATURES,
  MAX_PRESENT,
  NO_PRESENCE_REASON,
  Room,
  sortNames,
} from "../../lib/client/room.ts";

function room() {
  const written: string[] = [];
  return { room: new Room((frame) => written.push(frame)), written };
}

const join = (nickname: string) => ({ type: "join" as const, nickname, time: "" });
const leave = (nickname: string) => ({
  type: "leave" as const,
  nickname,
  time: "",
  reason: "quit",
});
const who = (...nicknames: string[]) => ({ type: "who" as const, nicknames });

Deno.test("the client asks for presence, direct, heartbeat, identity and ops", () => {
  assert.deepEqual([...CLIENT_FEATURES], ["presence", "direct", "heartbeat", "identity", "ops"]);
});

Deno.test("features are known only once a login was answered, and only those listed count", () => {
  const { room: r } = room();
  assert.equal(r.known, false);
  assert.equal(r.supports("presence"), false);
  r.loggedIn(["presence", "identity", "x"]);
  assert.equal(r.known, true);
  assert.equal(r.supports("presence"), true);
  assert.equal(r.supports("direct"), false);
  assert.deepEqual(r.features, ["presence", "identity", "x"]);
  // A core server's plain ok lists nothing.
  r.loggedIn(undefined);
  assert.equal(r.supports("presence"), false);
  assert.deepEqual(r.features, []);
});

Deno.test("who, join and leave keep the list of who is here, sorted, one entry per nickname key", () => {
  const { room: r } = room();
  r.loggedIn(["presence"]);
  assert.equal(r.apply(who("bob", "Alice", "carol10", "carol9")), true, "the login's snapshot");
  assert.deepEqual(r.names, ["Alice", "bob", "carol9", "carol10"]);
  r.apply(join("dave"));
  r.apply(join("DAVE")); // The same nickname key: one entry.
  r.apply(leave("BOB"));
  assert.deepEqual(r.names, ["Alice", "carol9", "carol10", "DAVE"]);
  assert.equal(r.apply(who("zed")), false, "any later who answers the command");
  assert.deepEqual(r.names, ["zed"]);
  r.offline();
  assert.deepEqual(r.names, [], "nobody is known to be here while offline");
  r.apply(join("late"));
  assert.deepEqual(r.names, [], "an event after the connection dropped changes nothing");
});

Deno.test("a server's endless joins are remembered up to MAX_PRESENT", () => {
  const { room: r } = room();
  r.loggedIn(["presence"]);
  r.apply(who());
  for (let i = 0; i < MAX_PRESENT + 10; i++) r.apply(join(`n${i}`));
  assert.equal(r.names.length, MAX_PRESENT);
});

Deno.test("/who sends the command only to a server that listed presence", () => {
  const core = room();
  core.room.loggedIn(undefined);
  assert.deepEqual(core.room.who(), { ok: false, reason: NO_PRESENCE_REASON });
  assert.deepEqual(core.written, [], "nothing sent to a core server");

  const rooms = room();
  rooms.room.loggedIn(["presence", "direct"]);
  assert.deepEqual(rooms.room.who(), { ok: true, queued: false });
  assert.deepEqual(rooms.written, ['{"command":"who"}\n']);
  assert.equal(rooms.room.awaitingAnswer, true);
  rooms.room.apply(who("a")); // The login's snapshot, not the answer.
  assert.equal(rooms.room.awaitingAnswer, true);
  assert.equal(rooms.room.apply(who("a")), false);
  assert.equal(rooms.room.awaitingAnswer, false);
});

Deno.test("/who before the first login goes out after it, or is refused then without sending", () => {
  const later = room();
  assert.deepEqual(later.room.who(), { ok: true, queued: true });
  assert.equal(later.room.awaitingAnswer, true);
  assert.equal(later.room.loggedIn(["presence"]), undefined);
  assert.deepEqual(later.written, ['{"command":"who"}\n']);

  const core = room();
  core.room.who();
  assert.equal(core.room.loggedIn([]), NO_PRESENCE_REASON);
  assert.deepEqual(core.written, []);
  assert.equal(core.room.awaitingAnswer, false, "end of input does not wait for an answer");
});

Deno.test("a dropped connection forgets the answers it owed", () => {
  const { room: r } = room();
  r.loggedIn(["presence"]);
  r.who();
  r.offline();
  assert.equal(r.awaitingAnswer, false);
});

Deno.test("names sort as people read them", () => {
  assert.deepEqual(sortNames(["b", "Émile", "a10", "a9", "Zoe", "emma"]), [
    "a9",
    "a10",
    "b",
    "Émile",
    "emma",
    "Zoe",
  ]);
});
