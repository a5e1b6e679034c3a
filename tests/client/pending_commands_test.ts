// The commands of §12–§13 (lib/client/pending_commands.ts, refusals.ts,
// and their parsing in commands.ts): what each typed line becomes on the
// wire, answers matched to commands in order, commands typed before the
// login, what an answer says, and what a refusal means for the session.

import assert from "node:assert/strict";
import { parseTyped } from "../../lib/client/commands.ts";
import {
  banTable,
  type CommandOutcome,
  encodeOpsCommand,
  type OpsCommand,
  PendingCommands,
} from "../../lib/client/pending_commands.ts";
import { cutReason, loginRefusal } from "../../lib/client/refusals.ts";

/** The frame a typed line sends, parsed (or the reason it is refused). */
function wire(line: string, present: string[] = []): unknown {
  const typed = parseTyped(line, present);
  if (typed.kind === "bad") return typed.reason;
  assert.equal(typed.kind, "command", line);
  return typed.kind === "command" ? JSON.parse(encodeOpsCommand(typed.command)) : undefined;
}

Deno.test("each command's frame, as §12–§13 spell it; an empty reason and no minutes are left out", () => {
  assert.deepEqual(wire("/register"), { command: "register" });
  assert.deepEqual(wire("/UNREGISTER"), { command: "unregister" });
  assert.deepEqual(wire("/bans"), { command: "bans" });
  assert.deepEqual(wire("/kick troll"), { command: "kick", nickname: "troll" });
  assert.deepEqual(wire("/kick troll  go away "), {
    command: "kick",
    nickname: "troll",
    reason: "go away",
  });
  assert.deepEqual(wire("/ban troll"), { command: "ban", nickname: "troll" });
  assert.deepEqual(wire("/ban troll 0 spam"), {
    command: "ban",
    nickname: "troll",
    reason: "spam",
  });
  assert.deepEqual(wire("/ban troll 30"), { command: "ban", nickname: "troll", minutes: 30 });
  assert.deepEqual(wire("/ban troll 30 spam, again"), {
    command: "ban",
    nickname: "troll",
    reason: "spam, again",
    minutes: 30,
  });
  assert.deepEqual(wire("/ban troll 30s of spam"), {
    command: "ban",
    nickname: "troll",
    reason: "30s of spam",
  });
  assert.deepEqual(wire('/kick "spam bot" bye'), {
    command: "kick",
    nickname: "spam bot",
    reason: "bye",
  });
  assert.deepEqual(wire("/ban spam bot 5", ["spam bot"]), {
    command: "ban",
    nickname: "spam bot",
    minutes: 5,
  });
  assert.deepEqual(wire("/unban 10.0.0.7"), { command: "unban", target: "10.0.0.7" });
});

Deno.test("a command used wrongly is refused with its usage, never sent", () => {
  assert.match(wire("/register bob") as string, /usage: \/register/);
  assert.match(wire("/kick") as string, /usage: \/kick NICK \[reason\]/);
  assert.match(wire('/kick "troll') as string, /usage: \/kick/);
  assert.match(wire("/ban") as string, /usage: \/ban NICK \[minutes\] \[reason\]/);
  assert.match(wire("/ban troll 99999999999") as string, /at most 52560000 minutes/);
  assert.match(wire("/unban") as string, /usage: \/unban TARGET/);
  assert.match(wire("/unban a b") as string, /usage: \/unban TARGET/);
  assert.match(wire("/kick a\u202eb") as string, /control or format/);
});

/** Pending commands on a recording host. */
function pending(features: string[] | undefined, online = true) {
  const state = { features, online, written: [] as string[], done: [] as string[] };
  const commands = new PendingCommands({
    write: (frame) => state.written.push(frame.trim()),
    known: () => state.features !== undefined,
    supports: (feature) => state.features?.includes(feature) ?? false,
    online: () => state.online,
    done: (command: OpsCommand, line: string, outcome: CommandOutcome) =>
      state.done.push(
        `${line} ${command.name} ${
          outcome.kind === "failed"
            ? `failed: ${outcome.reason}`
            : `${outcome.frame.status}${outcome.frame.reason ? `: ${outcome.frame.reason}` : ""}`
        }`,
      ),
  });
  return { state, commands };
}

Deno.test("answers go to the commands in the order they went out", () => {
  const { state, commands } = pending(["identity", "ops"]);
  assert.deepEqual(commands.submit({ name: "register" }, "/register"), { ok: true, queued: false });
  commands.submit({ name: "kick", nickname: "x", reason: "" }, "/kick x");
  commands.submit({ name: "bans" }, "/bans");
  assert.equal(commands.awaiting, true);
  assert.deepEqual(state.written, [
    '{"command":"register"}',
    '{"command":"kick","nickname":"x"}',
    '{"command":"bans"}',
  ]);
  assert.equal(commands.answer({ status: "ok" }, ""), true);
  assert.equal(commands.answer({ status: "error", reason: "not an operator" }, ""), true);
  assert.equal(commands.answer({ status: "ok", bans: [] }, ""), true);
  assert.equal(commands.answer({ status: "ok" }, ""), false, "nothing awaits: not an answer");
  assert.equal(commands.awaiting, false);
  assert.deepEqual(state.done, [
    "/register register ok",
    "/kick x kick error: not an operator",
    "/bans bans ok",
  ]);
});

Deno.test("a server that did not list the feature gets nothing; typed before the login, decided at it", () => {
  const core = pending([]);
  assert.deepEqual(core.commands.submit({ name: "register" }, "/register"), {
    ok: false,
    reason: "this server does not support registered nicknames (/register)",
  });
  assert.deepEqual(core.commands.submit({ name: "bans" }, "/bans"), {
    ok: false,
    reason: "this server does not support operator commands (/bans)",
  });
  assert.deepEqual(core.state.written, []);

  const early = pending(undefined, false);
  assert.deepEqual(early.commands.submit({ name: "register" }, "/register"), {
    ok: true,
    queued: true,
  });
  early.commands.submit({ name: "bans" }, "/bans");
  assert.equal(early.commands.awaiting, true, "end of input waits for them");
  early.state.features = ["identity"];
  early.state.online = true;
  early.commands.loggedIn();
  assert.deepEqual(early.state.written, ['{"command":"register"}']);
  assert.deepEqual(early.state.done, [
    "/bans bans failed: this server does not support operator commands (/bans)",
  ]);
});

Deno.test("a connection lost before the answer: the command is reported, never sent again", () => {
  const { state, commands } = pending(["ops"]);
  commands.submit({ name: "ban", nickname: "x", minutes: 0, reason: "" }, "/ban x");
  commands.offline();
  assert.deepEqual(state.done, ["/ban x ban failed: no answer: the connection was lost"]);
  commands.loggedIn();
  assert.equal(state.written.length, 1);
  assert.equal(commands.answer({ status: "ok" }, ""), false);
});

Deno.test("the table of /bans: aligned, until unbanned or a UTC time, the server's text as given", () => {
  assert.deepEqual(banTable([]), ["no bans"]);
  assert.deepEqual(
    banTable([
      { target: "10.0.0.8", until: null, reason: "spam", by: "alice" },
      { target: "AB:CD", until: "2026-12-03T18:00:00+0100", reason: "", by: "carol" },
      { target: "x", until: "soon", reason: "r", by: "" },
    ]),
    [
      "3 ban(s):",
      "TARGET    UNTIL                 BY     REASON",
      "10.0.0.8  until unbanned        alice  spam",
      "AB:CD     2026-12-03 17:00 UTC  carol",
      "x         soon                         r",
    ],
  );
});

Deno.test("login refusals: banned and not invited end the run; a registered nickname asks for another on a terminal", () => {
  const terminal = { everLoggedIn: true, interactive: true, canChoose: true };
  const pipe = { everLoggedIn: false, interactive: false, canChoose: false };
  for (const reason of ["banned", "banned until 2026-12-03T18:00:00+0000: spam", "not invited"]) {
    assert.equal(loginRefusal(reason, "bob", terminal).then, "fail", reason);
    assert.equal(loginRefusal(reason, "bob", pipe).then, "fail", reason);
  }
  assert.equal(loginRefusal("nickname is registered", "bob", terminal).then, "choose");
  assert.equal(loginRefusal("nickname is registered", "bob", pipe).then, "fail");
  assert.equal(loginRefusal("nickname in use", "bob", terminal).then, "retry", "as before");
  assert.equal(
    loginRefusal(undefined, "bob", pipe).text,
    "login as bob refused: nickname taken or not allowed",
  );
  assert.equal(loginRefusal("bannedness", "bob", pipe).then, "fail", "a word starting with banned");
  assert.equal(loginRefusal("unbanned", "bob", terminal).then, "retry");
});

Deno.test("a cut is an error without id saying kicked by or banned; anything else is not", () => {
  assert.equal(
    cutReason({ status: "error", reason: "kicked by alice: bye" }),
    "kicked by alice: bye",
  );
  assert.equal(cutReason({ status: "error", reason: "banned by alice" }), "banned by alice");
  assert.equal(cutReason({ status: "error", reason: "kicked by alice", id: "m1" }), undefined);
  assert.equal(cutReason({ status: "ok", reason: "kicked by alice" }), undefined);
  assert.equal(cutReason({ status: "error", reason: "not an operator" }), undefined);
  assert.equal(cutReason({ status: "error" }), undefined);
});
