// Unit tests for the typed frames of PROTOCOL.md (lib/protocol.ts).

import assert from "node:assert/strict";
import {
  checkMessageText,
  decodeClientFrame,
  decodeServerFrame,
  DEFAULT_MAX_MESSAGE_BYTES,
  encodeChatMessage,
  encodeCommand,
  encodeDirect,
  encodeDirectSend,
  encodeFeaturesOk,
  encodeJoin,
  encodeLeave,
  encodeLogin,
  encodeSend,
  encodeStatus,
  encodeWho,
  MAX_ID_LENGTH,
  utf8Length,
} from "../lib/protocol.ts";

/** Asserts that `line` is refused with an error reply whose reason matches `reason`. */
function assertRefused(line: string, reason: RegExp): void {
  const frame = decodeClientFrame(line);
  assert.equal(frame.type, "error", `${line} should be refused, got ${JSON.stringify(frame)}`);
  if (frame.type !== "error") return;
  assert.match(frame.reason, reason, `reason for ${line}`);
}

// §6: malformed JSON and values that are not objects.

Deno.test("refuses malformed JSON", () => {
  for (const line of ["{", '{"command":"login"', "login bob", "{'message':'x'}", '{"a":1}}', ""]) {
    assertRefused(line, /malformed JSON/);
  }
});

Deno.test("refuses JSON values that are not objects", () => {
  for (
    const line of ["[]", '[{"command":"login","nickname":"bob"}]', '"login"', "42", "null", "true"]
  ) {
    assertRefused(line, /object/);
  }
});

Deno.test("refuses an object with neither command nor message", () => {
  assertRefused("{}", /command|message/);
  assertRefused('{"nickname":"bob"}', /command|message/);
});

// §6: missing or mistyped fields, unknown commands.

Deno.test("refuses a command that is not a string", () => {
  for (const command of ["1", "null", "true", '["login"]', '{"login":1}']) {
    assertRefused(`{"command":${command},"nickname":"bob"}`, /command/);
  }
});

Deno.test("refuses a login whose nickname is missing or not a string", () => {
  assertRefused('{"command":"login"}', /nickname/);
  for (const nickname of ["1", "null", "false", '["bob"]', '{"name":"bob"}']) {
    assertRefused(`{"command":"login","nickname":${nickname}}`, /nickname/);
  }
});

Deno.test("refuses an unknown command and names it", () => {
  assertRefused('{"command":"logout"}', /unknown command.*logout/);
  assertRefused('{"command":"LOGIN","nickname":"bob"}', /unknown command/);
  assertRefused('{"command":"","nickname":"bob"}', /unknown command/);
});

Deno.test("keeps the reason for an unknown command short", () => {
  const frame = decodeClientFrame(JSON.stringify({ command: "x".repeat(10_000) }));
  assert.equal(frame.type, "error");
  if (frame.type === "error") assert.ok(frame.reason.length < 100, frame.reason);
});

Deno.test("refuses a message that is not a string", () => {
  for (const message of ["1", "null", "true", '["hi"]', '{"text":"hi"}']) {
    assertRefused(`{"message":${message}}`, /message/);
  }
});

Deno.test("refuses a message whose id is not a string", () => {
  for (const id of ["1", "true", '["a"]', '{"a":1}']) {
    assertRefused(`{"message":"hi","id":${id}}`, /id/);
  }
});

Deno.test("refuses an id longer than 64 characters and accepts one of exactly 64", () => {
  assert.equal(MAX_ID_LENGTH, 64);
  assertRefused(JSON.stringify({ message: "hi", id: "i".repeat(65) }), /id/);
  assert.deepEqual(decodeClientFrame(JSON.stringify({ message: "hi", id: "i".repeat(64) })), {
    type: "send",
    message: "hi",
    id: "i".repeat(64),
  });
});

Deno.test("keeps the id of a message refused for its text, so the error can carry it", () => {
  assert.deepEqual(decodeClientFrame('{"message":5,"id":"m1"}'), {
    type: "error",
    reason: "message must be a string",
    id: "m1",
    of: "message",
  });
});

Deno.test("says what a refused object was trying to be, so a server can answer before login", () => {
  const of = (line: string) => {
    const frame = decodeClientFrame(line);
    return frame.type === "error" ? frame.of : "accepted";
  };
  assert.equal(of("not json"), undefined);
  assert.equal(of("[1]"), undefined);
  assert.equal(of('{"command":"login","nickname":5}'), "login");
  assert.equal(of('{"command":"login","nickname":"bob","since":-1}'), "login");
  assert.equal(of('{"message":5}'), "message");
  assert.equal(of('{"command":"dance"}'), "other");
  assert.equal(of('{"foo":1}'), "other");
});

Deno.test("refuses a since that is negative, fractional or not a number", () => {
  for (const since of ["-1", "1.5", '"3"', "true", "[1]", "1e300"]) {
    assertRefused(`{"command":"login","nickname":"bob","since":${since}}`, /since/);
  }
});

// Valid frames.

Deno.test("decodes a login", () => {
  assert.deepEqual(decodeClientFrame('{"command":"login","nickname":"bob"}'), {
    type: "login",
    nickname: "bob",
  });
});

Deno.test("decodes a login with since, including since 0", () => {
  assert.deepEqual(decodeClientFrame('{"command":"login","nickname":"bob","since":41}'), {
    type: "login",
    nickname: "bob",
    since: 41,
  });
  assert.deepEqual(decodeClientFrame('{"command":"login","nickname":"bob","since":0}'), {
    type: "login",
    nickname: "bob",
    since: 0,
  });
});

Deno.test("treats since null as no since", () => {
  assert.deepEqual(decodeClientFrame('{"command":"login","nickname":"bob","since":null}'), {
    type: "login",
    nickname: "bob",
  });
});

Deno.test("ignores unknown fields in a login", () => {
  const line = '{"version":2,"command":"login","nickname":"bob","password":"x","extra":{"a":[1]}}';
  assert.deepEqual(decodeClientFrame(line), { type: "login", nickname: "bob" });
});

// The extensions of §9–§11, as a client sends them.

Deno.test("decodes a login's features: strings kept, unknown names kept, other values dropped", () => {
  assert.deepEqual(
    decodeClientFrame(
      '{"command":"login","nickname":"bob","features":["presence",7,null,{"a":1},"teleport"]}',
    ),
    { type: "login", nickname: "bob", features: ["presence", "teleport"] },
  );
  assert.deepEqual(decodeClientFrame('{"command":"login","nickname":"bob","features":[]}'), {
    type: "login",
    nickname: "bob",
    features: [],
  });
  assert.deepEqual(decodeClientFrame('{"command":"login","nickname":"bob","features":null}'), {
    type: "login",
    nickname: "bob",
  });
  for (const features of ['"presence"', "1", "{}", "true"]) {
    assert.deepEqual(
      decodeClientFrame(`{"command":"login","nickname":"bob","features":${features}}`),
      { type: "error", reason: "features must be a list of names", of: "login" },
    );
  }
});

Deno.test("decodes who, and a message's to; a to that is not a string is refused with the id", () => {
  assert.deepEqual(decodeClientFrame('{"command":"who","extra":1}'), { type: "who" });
  assert.deepEqual(decodeClientFrame('{"message":"hi","to":"alice","id":"m1"}'), {
    type: "send",
    message: "hi",
    id: "m1",
    to: "alice",
  });
  assert.deepEqual(decodeClientFrame('{"message":"hi","to":null}'), {
    type: "send",
    message: "hi",
  });
  for (const to of ["7", "true", '["alice"]', '{"n":"alice"}']) {
    assert.deepEqual(decodeClientFrame(`{"message":"hi","to":${to},"id":"m2"}`), {
      type: "error",
      reason: "to must be a string",
      id: "m2",
      of: "message",
    });
  }
});

Deno.test("encodes the frames of §9–§11 as the protocol shows them", () => {
  assert.equal(
    encodeFeaturesOk(["presence", "direct"]),
    '{"status":"ok","features":["presence","direct"]}\n',
  );
  assert.equal(encodeWho(["alice", "bob"]), '{"event":"who","nicknames":["alice","bob"]}\n');
  assert.equal(encodeJoin("carol", "t"), '{"event":"join","nickname":"carol","time":"t"}\n');
  assert.equal(
    encodeLeave("carol", "t", "quit"),
    '{"event":"leave","nickname":"carol","time":"t","reason":"quit"}\n',
  );
  assert.equal(
    encodeDirect({ from: "bob", to: "alice", message: "a\u2028b", time: "t" }),
    '{"from":"bob","to":"alice","message":"a\\u2028b","time":"t"}\n',
  );
});

Deno.test("decodes a message and keeps its text exactly", () => {
  const text = 'The quick brown fox\njumped over the "lazy" dog \u2028 😀 \u0000';
  assert.deepEqual(decodeClientFrame(JSON.stringify({ message: text })), {
    type: "send",
    message: text,
  });
});

Deno.test("decodes a message with an id", () => {
  assert.deepEqual(decodeClientFrame('{"message":"hi","id":"m-1"}'), {
    type: "send",
    message: "hi",
    id: "m-1",
  });
});

Deno.test("ignores from, time, seq and unknown fields in a client message", () => {
  const line = '{"from":"alice","message":"hi","time":"2017-01-12T20:00:00-0800","seq":9,"x":1}';
  assert.deepEqual(decodeClientFrame(line), { type: "send", message: "hi" });
});

Deno.test("decodes an empty message (its text is checked separately)", () => {
  assert.deepEqual(decodeClientFrame('{"message":""}'), { type: "send", message: "" });
  assert.notEqual(checkMessageText("", DEFAULT_MAX_MESSAGE_BYTES), undefined);
});

// §5: message text.

Deno.test("refuses an empty message text", () => {
  assert.match(checkMessageText("", 16) ?? "", /empty/);
});

Deno.test("accepts a message text of exactly 16 KiB", () => {
  assert.equal(DEFAULT_MAX_MESSAGE_BYTES, 16 * 1024);
  assert.equal(checkMessageText("a".repeat(16 * 1024), DEFAULT_MAX_MESSAGE_BYTES), undefined);
  // 4096 four-byte characters: 8192 UTF-16 code units, 16 KiB of UTF-8.
  assert.equal(checkMessageText("😀".repeat(4096), DEFAULT_MAX_MESSAGE_BYTES), undefined);
});

Deno.test("refuses a message text one byte over the cap", () => {
  assert.match(
    checkMessageText("a".repeat(16 * 1024 + 1), DEFAULT_MAX_MESSAGE_BYTES) ?? "",
    /16384 bytes/,
  );
});

Deno.test("counts the cap in UTF-8 bytes for multibyte text", () => {
  const max = DEFAULT_MAX_MESSAGE_BYTES;
  // 5461 three-byte characters are 16383 bytes; one more ASCII byte is exactly the cap.
  assert.equal(checkMessageText(`${"✓".repeat(5461)}a`, max), undefined);
  assert.notEqual(checkMessageText(`${"✓".repeat(5461)}é`, max), undefined); // 16385 bytes
  assert.notEqual(checkMessageText("✓".repeat(5462), max), undefined); // 16386 bytes
  assert.notEqual(checkMessageText(`${"😀".repeat(4096)}a`, max), undefined); // 16385 bytes
  assert.notEqual(checkMessageText(`${"é".repeat(8192)}a`, max), undefined); // 16385 bytes
  assert.equal(checkMessageText("é".repeat(8192), max), undefined); // 16384 bytes
});

Deno.test("refuses a message text holding a lone surrogate", () => {
  for (const text of ["x\ud800y", "\udc00", "end\ud83d", "\ude00start", "\udc00\ud800"]) {
    assert.equal(
      checkMessageText(text, DEFAULT_MAX_MESSAGE_BYTES),
      "message must be valid Unicode",
      JSON.stringify(text),
    );
  }
  assert.equal(checkMessageText("pair 😀 and 𝄞", DEFAULT_MAX_MESSAGE_BYTES), undefined);
});

Deno.test("refuses an id holding a lone surrogate, without echoing it back", () => {
  const frame = decodeClientFrame('{"message":"hi","id":"a\\ud800b"}');
  assert.deepEqual(frame, {
    type: "error",
    reason: "id must be valid Unicode",
    of: "message",
  });
  assert.deepEqual(decodeClientFrame('{"message":"hi","id":"😀"}'), {
    type: "send",
    message: "hi",
    id: "😀",
  });
});

Deno.test("never splits a surrogate pair when it quotes a peer's command in a reason", () => {
  for (let prefix = 35; prefix <= 42; prefix++) {
    const command = "x".repeat(prefix) + "😀".repeat(10);
    const frame = decodeClientFrame(JSON.stringify({ command }));
    assert.equal(frame.type, "error");
    if (frame.type !== "error") continue;
    assert.ok(frame.reason.isWellFormed(), `${prefix}: ${JSON.stringify(frame.reason)}`);
    assert.match(frame.reason, /^unknown command "x+😀*…"$/u);
    assertNoLoneSurrogate(encodeStatus({ status: "error", reason: frame.reason }));
  }
});

Deno.test("quotes a command that holds a lone surrogate as well-formed text", () => {
  const frame = decodeClientFrame('{"command":"a\\ud800b"}');
  assert.equal(frame.type, "error");
  if (frame.type === "error") {
    assert.equal(frame.reason, 'unknown command "a\ufffdb"');
    assertNoLoneSurrogate(encodeStatus({ status: "error", reason: frame.reason }));
  }
});

Deno.test("never sends a lone surrogate, whatever string a frame is given", () => {
  const lines = [
    encodeStatus({ status: "error", id: "i\udc00", reason: "r\ud800" }),
    encodeChatMessage({ from: "\ud83d", message: "x\ud800y\udc00", time: "t\udfff", seq: 1 }),
    encodeSend("a\ud800", "\udbff"),
    encodeLogin("n\udc00"),
  ];
  for (const line of lines) {
    assertOneLine(line);
    assertNoLoneSurrogate(line);
  }
  assert.deepEqual(JSON.parse(lines[1]), {
    from: "\ufffd",
    message: "x\ufffdy\ufffd",
    time: "t\ufffd",
    seq: 1,
  });
  // Text that only looks like an escape is left alone, and pairs stay pairs.
  const look = encodeSend("\\ud800 \\\\ud800 😀");
  assert.equal(look, '{"message":"\\\\ud800 \\\\\\\\ud800 😀"}\n');
  assert.deepEqual(decodeClientFrame(look), { type: "send", message: "\\ud800 \\\\ud800 😀" });
});

Deno.test("applies a cap other than the default", () => {
  assert.equal(checkMessageText("abcd", 4), undefined);
  assert.notEqual(checkMessageText("abcde", 4), undefined);
  assert.notEqual(checkMessageText("éé€", 4), undefined);
});

// Encoders: exactly one line, never a raw line break.

const NASTY = [
  "line one\nline two",
  "carriage\rreturn\r\n",
  "separators \u2028 and \u2029",
  "next line \u0085 here",
  "controls \u0000\u0001\u0007\u001b[31m\u007f\u009b",
  'quotes " and \\ backslash',
  "emoji 😀 and lone \ud800 surrogate",
];

/**
 * Asserts `line` holds no lone surrogate, raw or as a JSON escape: strict
 * parsers (serde_json) refuse the whole frame for one.
 */
function assertNoLoneSurrogate(line: string): void {
  assert.ok(line.isWellFormed(), JSON.stringify(line));
  assert.ok(JSON.parse(line.trimEnd(), (_key, value) => {
    if (typeof value === "string") assert.ok(value.isWellFormed(), JSON.stringify(line));
    return value;
  }));
}

/** Asserts `line` is one frame: ends in "\n" and has no other line break of any kind. */
function assertOneLine(line: string): void {
  assert.ok(line.endsWith("\n"), JSON.stringify(line));
  const body = line.slice(0, -1);
  // No line break of any kind (C0 holds \n, \r, VT, FF; C1 holds NEL), nor any
  // other raw control character a terminal or a line reader could act on.
  // deno-lint-ignore no-control-regex
  assert.doesNotMatch(body, /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/, JSON.stringify(line));
}

Deno.test("encodes a chat message as one line, whatever its text holds", () => {
  for (const text of NASTY) {
    const line = encodeChatMessage({
      from: "bob",
      message: text,
      time: "2017-01-12T20:00:00-0800",
      seq: 7,
    });
    assertOneLine(line);
    assertNoLoneSurrogate(line);
    // The escapes are JSON's own: any JSON parser gets the exact text back
    // (a lone surrogate, which a strict parser would refuse, as U+FFFD).
    assert.deepEqual(JSON.parse(line), {
      from: "bob",
      message: text.toWellFormed(),
      time: "2017-01-12T20:00:00-0800",
      seq: 7,
    });
  }
});

Deno.test("encodes frames that decode back to what was encoded", () => {
  for (const text of NASTY.filter((t) => t.isWellFormed())) {
    const chat = encodeChatMessage({ from: "b\u2028ob", message: text, time: "t", seq: 3 });
    assert.deepEqual(decodeServerFrame(chat.slice(0, -1)), {
      type: "message",
      from: "b\u2028ob",
      message: text,
      time: "t",
      seq: 3,
    });
    const send = encodeSend(text, "id\n1");
    assertOneLine(send);
    assert.deepEqual(decodeClientFrame(send), { type: "send", message: text, id: "id\n1" });
    const login = encodeLogin(text, 12);
    assertOneLine(login);
    assert.deepEqual(decodeClientFrame(login), { type: "login", nickname: text, since: 12 });
    const status = encodeStatus({ status: "error", id: "x", reason: text });
    assertOneLine(status);
    assert.deepEqual(decodeServerFrame(status), {
      type: "status",
      status: "error",
      id: "x",
      reason: text,
    });
  }
});

Deno.test("encodes the frames of the protocol's examples byte for byte", () => {
  assert.equal(encodeLogin("bob"), '{"command":"login","nickname":"bob"}\n');
  assert.equal(encodeLogin("bob", 5), '{"command":"login","nickname":"bob","since":5}\n');
  assert.equal(encodeSend("hi"), '{"message":"hi"}\n');
  assert.equal(encodeSend("hi", "m1"), '{"message":"hi","id":"m1"}\n');
  assert.equal(encodeStatus({ status: "ok" }), '{"status":"ok"}\n');
  assert.equal(encodeStatus({ status: "ok", id: "m1" }), '{"status":"ok","id":"m1"}\n');
  assert.equal(
    encodeStatus({ status: "error", reason: "login required" }),
    '{"status":"error","reason":"login required"}\n',
  );
  assert.equal(
    encodeChatMessage({
      from: "bob",
      message: "The quick brown fox\njumped over the lazy dog",
      time: "2017-01-12T20:00:00-0800",
    }),
    '{"from":"bob","message":"The quick brown fox\\njumped over the lazy dog","time":"2017-01-12T20:00:00-0800"}\n',
  );
  assert.equal(
    encodeChatMessage({ from: "bob", message: "x", time: "t", seq: 12 }),
    '{"from":"bob","message":"x","time":"t","seq":12}\n',
  );
});

// decodeServerFrame: tolerant in what a client receives.

Deno.test("decodes a chat message from a server with and without seq", () => {
  assert.deepEqual(
    decodeServerFrame('{"from":"bob","message":"hi","time":"2017-01-12T20:00:00-0800","seq":4}'),
    { type: "message", from: "bob", message: "hi", time: "2017-01-12T20:00:00-0800", seq: 4 },
  );
  assert.deepEqual(
    decodeServerFrame('{"from":"bob","message":"hi","time":"2017-01-12T20:00:00Z"}'),
    {
      type: "message",
      from: "bob",
      message: "hi",
      time: "2017-01-12T20:00:00Z",
    },
  );
});

Deno.test("drops a seq that is not a positive integer and keeps the message", () => {
  for (const seq of ["0", "-3", "1.5", '"4"', "null", "true", "1e300"]) {
    const frame = decodeServerFrame(`{"from":"bob","message":"hi","time":"t","seq":${seq}}`);
    assert.deepEqual(
      frame,
      { type: "message", from: "bob", message: "hi", time: "t" },
      `seq ${seq}`,
    );
  }
});

Deno.test("tolerates a chat message with a missing or mistyped time", () => {
  assert.deepEqual(decodeServerFrame('{"from":"bob","message":"hi"}'), {
    type: "message",
    from: "bob",
    message: "hi",
    time: "",
  });
  assert.deepEqual(decodeServerFrame('{"from":"bob","message":"hi","time":{"toString":1}}'), {
    type: "message",
    from: "bob",
    message: "hi",
    time: "",
  });
});

Deno.test("refuses a chat message whose from is not a string, without crashing or inventing a name", () => {
  for (
    const from of ['{"toString":1}', '{"valueOf":1,"toString":1}', "42", "null", "true", '["bob"]']
  ) {
    const line = `{"from":${from},"message":"x"}`;
    const frame = decodeServerFrame(line);
    assert.equal(frame.type, "error", `${line} gave ${JSON.stringify(frame)}`);
    if (frame.type === "error") assert.match(frame.reason, /from must be a string/, line);
  }
});

Deno.test("decodes status frames with id and reason, ignoring unknown fields", () => {
  assert.deepEqual(decodeServerFrame('{"status":"ok"}'), { type: "status", status: "ok" });
  assert.deepEqual(decodeServerFrame('{"status":"ok","id":"m1","extra":true}'), {
    type: "status",
    status: "ok",
    id: "m1",
  });
  assert.deepEqual(decodeServerFrame('{"status":"error","reason":"nickname already in use"}'), {
    type: "status",
    status: "error",
    reason: "nickname already in use",
  });
  assert.deepEqual(decodeServerFrame('{"status":"error","id":"m2","reason":"too long"}'), {
    type: "status",
    status: "error",
    id: "m2",
    reason: "too long",
  });
  // A reason or id of the wrong type is left out, not an error.
  assert.deepEqual(decodeServerFrame('{"status":"error","reason":5,"id":[1]}'), {
    type: "status",
    status: "error",
  });
});

Deno.test("decodes frames it does not know as unknown, not as errors", () => {
  for (
    const value of [{ status: "maybe" }, { type: "ping" }, {}, { message: "no sender" }, {
      from: "bob",
    }]
  ) {
    assert.deepEqual(decodeServerFrame(JSON.stringify(value)), { type: "unknown", value });
  }
});

Deno.test("refuses server lines that are not JSON objects", () => {
  assert.equal(decodeServerFrame("not json").type, "error");
  assert.equal(decodeServerFrame("[1,2]").type, "error");
  assert.equal(decodeServerFrame("null").type, "error");
});

// §9–§11 as a client reads and writes them.

Deno.test("decodes the features of a login's ok, dropping entries that are not strings", () => {
  assert.deepEqual(decodeServerFrame('{"status":"ok","features":["presence","direct","x"]}'), {
    type: "status",
    status: "ok",
    features: ["presence", "direct", "x"],
  });
  assert.deepEqual(decodeServerFrame('{"status":"ok","features":["presence",1,null,{"a":1}]}'), {
    type: "status",
    status: "ok",
    features: ["presence"],
  });
  assert.deepEqual(decodeServerFrame('{"status":"ok","features":[]}'), {
    type: "status",
    status: "ok",
    features: [],
  });
  // Not a list: no features at all, never a crash.
  assert.deepEqual(decodeServerFrame('{"status":"ok","features":"presence"}'), {
    type: "status",
    status: "ok",
  });
});

Deno.test("decodes the presence events of §10", () => {
  assert.deepEqual(decodeServerFrame('{"event":"who","nicknames":["alice","bob",7]}'), {
    type: "who",
    nicknames: ["alice", "bob"],
  });
  assert.deepEqual(decodeServerFrame('{"event":"join","nickname":"carol","time":"t"}'), {
    type: "join",
    nickname: "carol",
    time: "t",
  });
  assert.deepEqual(
    decodeServerFrame('{"event":"leave","nickname":"carol","time":"t","reason":"quit"}'),
    { type: "leave", nickname: "carol", time: "t", reason: "quit" },
  );
  // No reason, a time that is not a string: tolerated.
  assert.deepEqual(decodeServerFrame('{"event":"leave","nickname":"carol","time":5}'), {
    type: "leave",
    nickname: "carol",
    time: "",
  });
  // An event we do not know is unknown, not an error.
  const value = { event: "dance", nickname: "carol" };
  assert.deepEqual(decodeServerFrame(JSON.stringify(value)), { type: "unknown", value });
});

Deno.test("refuses presence events without their nickname or list, never inventing one", () => {
  for (
    const line of [
      '{"event":"who"}',
      '{"event":"who","nicknames":"alice"}',
      '{"event":"join"}',
      '{"event":"join","nickname":{"toString":1}}',
      '{"event":"leave","nickname":42,"reason":"quit"}',
    ]
  ) {
    assert.equal(decodeServerFrame(line).type, "error", line);
  }
});

Deno.test("decodes a direct message apart from a public one, and refuses a recipient that is not a string", () => {
  assert.deepEqual(
    decodeServerFrame('{"from":"bob","to":"alice","message":"psst","time":"t","seq":9}'),
    { type: "direct", from: "bob", to: "alice", message: "psst", time: "t" },
  );
  // `to` null is no recipient: a public message whose sender's client added it.
  assert.deepEqual(decodeServerFrame('{"from":"bob","to":null,"message":"hi","time":"t"}'), {
    type: "message",
    from: "bob",
    message: "hi",
    time: "t",
  });
  for (const to of ["42", '["alice"]', '{"toString":1}', "true"]) {
    const frame = decodeServerFrame(`{"from":"bob","to":${to},"message":"psst"}`);
    assert.equal(frame.type, "error", to);
    if (frame.type === "error") assert.match(frame.reason, /to must be a string/);
  }
});

Deno.test("encodes logins with features, direct messages and commands byte for byte", () => {
  assert.equal(
    encodeLogin("bob", undefined, ["presence", "direct"]),
    '{"command":"login","nickname":"bob","features":["presence","direct"]}\n',
  );
  assert.equal(
    encodeLogin("bob", 3, ["presence"]),
    '{"command":"login","nickname":"bob","since":3,"features":["presence"]}\n',
  );
  assert.equal(encodeDirectSend("alice", "psst"), '{"message":"psst","to":"alice"}\n');
  assert.equal(
    encodeDirectSend("alice", "two\nlines\u2028", "m1"),
    '{"message":"two\\nlines\\u2028","to":"alice","id":"m1"}\n',
  );
  assert.equal(encodeCommand("who"), '{"command":"who"}\n');
  // A direct message decodes on the server side as a message, never as a login or a command.
  const frame = decodeClientFrame(encodeDirectSend("alice", "psst", "m1"));
  assert.equal(frame.type, "send");
});

// utf8Length.

/** A small deterministic PRNG (mulberry32), so a failure can be replayed. */
function prng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

Deno.test("utf8Length agrees with TextEncoder on fixed edge cases", () => {
  const encoder = new TextEncoder();
  for (
    const text of [
      "",
      "a",
      "\u007f",
      "\u0080",
      "\u07ff",
      "\u0800",
      "\uffff",
      "😀",
      "\u{10ffff}",
      "\ud800",
      "\udc00",
      "\udc00\ud800",
      "a\ud800",
      "\ud800a",
      "\ud83d\ud83d\ude00",
    ]
  ) {
    assert.equal(utf8Length(text), encoder.encode(text).length, JSON.stringify(text));
  }
});

Deno.test("utf8Length agrees with TextEncoder on random strings with surrogate pairs", () => {
  const encoder = new TextEncoder();
  const random = prng(2017);
  // Code units from every UTF-8 length class, including both halves of surrogate pairs.
  const ranges: [number, number][] = [
    [0x00, 0x7f],
    [0x80, 0x7ff],
    [0x800, 0xd7ff],
    [0xd800, 0xdbff],
    [0xdc00, 0xdfff],
    [0xe000, 0xffff],
  ];
  for (let round = 0; round < 2000; round++) {
    const units: number[] = [];
    const length = Math.floor(random() * 24);
    for (let i = 0; i < length; i++) {
      if (random() < 0.3) {
        const cp = 0x10000 + Math.floor(random() * 0x100000);
        units.push(0xd800 + ((cp - 0x10000) >> 10), 0xdc00 + ((cp - 0x10000) & 0x3ff));
        continue;
      }
      const [lo, hi] = ranges[Math.floor(random() * ranges.length)];
      units.push(lo + Math.floor(random() * (hi - lo + 1)));
    }
    const text = String.fromCharCode(...units);
    assert.equal(utf8Length(text), encoder.encode(text).length, JSON.stringify(text));
  }
});
