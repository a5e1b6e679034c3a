// Typed lines (lib/client/commands.ts): which are commands, how /msg finds
// its recipient, and what each does to the session: nothing is ever sent
// for a command that is refused.

import assert from "node:assert/strict";
import { type CommandHost, helpLines, parseTyped, runTyped } from "../../lib/client/commands.ts";
import type { SubmitResult } from "../../lib/client/delivery.ts";
import type { WhoResult } from "../../lib/client/room.ts";

Deno.test("plain lines are messages; // sends a line that starts with /", () => {
  assert.deepEqual(parseTyped("hello", []), { kind: "message", text: "hello" });
  assert.deepEqual(parseTyped("//etc/hosts", []), { kind: "message", text: "/etc/hosts" });
  assert.deepEqual(parseTyped("   ", []), { kind: "blank" });
  assert.deepEqual(parseTyped(" /who", []), { kind: "message", text: " /who" });
});

Deno.test("the commands and their other names", () => {
  for (const line of ["/quit", "/exit", "/q", "/QUIT", "/ quit"]) {
    assert.deepEqual(parseTyped(line, []), { kind: "quit" }, line);
  }
  for (const line of ["/help", "/?"]) assert.deepEqual(parseTyped(line, []), { kind: "help" });
  assert.deepEqual(parseTyped("/who", []), { kind: "who" });
  assert.deepEqual(parseTyped("/WHO now", []), { kind: "who" });
});

Deno.test("an unknown command is refused, never taken for a message", () => {
  for (const line of ["/mgs alice secret", "/", "/etc/hosts is broken"]) {
    const typed = parseTyped(line, []);
    assert.equal(typed.kind, "bad", line);
    if (typed.kind === "bad") assert.match(typed.reason, /unknown command .*not sent.*\/\//);
  }
});

Deno.test("/msg NICK TEXT: the first word, a nickname in quotes, or the longest nickname present with spaces", () => {
  assert.deepEqual(parseTyped("/msg alice see you at 5", []), {
    kind: "direct",
    to: "alice",
    text: "see you at 5",
  });
  assert.deepEqual(parseTyped("/MSG  alice   two  spaces", []), {
    kind: "direct",
    to: "alice",
    text: "two  spaces",
  });
  assert.deepEqual(parseTyped('/msg "bob smith" hi', []), {
    kind: "direct",
    to: "bob smith",
    text: "hi",
  });
  const present = ["bob", "bob smith", "Bob Smith Jr"];
  assert.deepEqual(parseTyped("/msg bob smith hi there", present), {
    kind: "direct",
    to: "bob smith",
    text: "hi there",
  });
  assert.deepEqual(parseTyped("/msg bob smith jr hi", present), {
    kind: "direct",
    to: "bob smith jr",
    text: "hi",
  });
  assert.deepEqual(parseTyped("/msg bob hi", present), { kind: "direct", to: "bob", text: "hi" });
});

Deno.test("/msg without a text, a nickname or a closing quote, or with a nickname no one may have, is refused", () => {
  for (const line of ["/msg", "/msg alice", "/msg alice   ", '/msg "alice hi', '/msg "" hi']) {
    const typed = parseTyped(line, []);
    assert.equal(typed.kind, "bad", line);
    if (typed.kind === "bad") assert.match(typed.reason, /usage: \/msg NICK TEXT/, line);
  }
  const typed = parseTyped('/msg "a\u202eb" hi', []);
  assert.equal(typed.kind, "bad");
  if (typed.kind === "bad") assert.match(typed.reason, /control or format/);
});

/** A host that records what a typed line did. */
function host(options: { submit?: SubmitResult; who?: WhoResult; names?: string[] } = {}) {
  const log = { submitted: [] as [string, string | undefined][], notices: [] as string[] };
  const notSent: string[] = [];
  let quit = 0;
  const h: CommandHost = {
    session: {
      submit: (text, to) => {
        log.submitted.push([text, to]);
        return options.submit ?? { ok: true, queued: false };
      },
      who: () => options.who ?? { ok: true, queued: false },
      command: () => ({ ok: true, queued: false }),
      here: {
        known: true,
        supports: () => true,
        features: [],
        names: options.names ?? [],
      },
    },
    notify: (text) => log.notices.push(text),
    quit: () => quit++,
    notSent: (line) => notSent.push(line),
    sayQueued: true,
  };
  return { h, log, notSent, quits: () => quit };
}

Deno.test("running lines: messages and direct messages go to the session, commands do not", () => {
  const t = host();
  runTyped("hello", t.h);
  runTyped("/msg alice psst", t.h);
  runTyped("//x", t.h);
  runTyped("/help", t.h);
  runTyped("/mgs alice oops", t.h);
  runTyped("/quit", t.h);
  assert.deepEqual(t.log.submitted, [["hello", undefined], ["psst", "alice"], ["/x", undefined]]);
  const help = helpLines([]);
  assert.deepEqual(t.log.notices.slice(0, help.length), help, "a core server's commands");
  assert.match(t.log.notices.at(-1)!, /unknown command \/mgs/);
  assert.deepEqual(t.notSent, ["/mgs alice oops"]);
  assert.equal(t.quits(), 1);
});

Deno.test("a refusal by the session is said, and the line counted as not sent", () => {
  const refused = host({
    submit: { ok: false, reason: "this server does not support direct messages (/msg)" },
    who: { ok: false, reason: "this server does not support presence (/who)" },
  });
  runTyped("/msg alice psst", refused.h);
  runTyped("/who", refused.h);
  assert.deepEqual(refused.log.notices, [
    "not sent: this server does not support direct messages (/msg)",
    "this server does not support presence (/who)",
  ]);
  assert.deepEqual(refused.notSent, ["/msg alice psst"], "a /who is no message: not counted");

  const queued = host({ submit: { ok: true, queued: true }, who: { ok: true, queued: true } });
  runTyped("/msg alice psst", queued.h);
  runTyped("/who", queued.h);
  assert.deepEqual(queued.log.notices, [
    'not connected: -> alice: "psst" is queued and goes out after the login',
    "not connected: /who asks after the login",
  ]);
});
