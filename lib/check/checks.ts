// The checks of `chat check`, in the order they run: what PROTOCOL.md marks
// core (each decides the exit code), then the extensions of §8 (reported,
// never deciding it).
//
// Every check opens its own connections with fresh nicknames, so one
// check's failure cannot spoil the next. A busy server is expected: a check
// waits for its own run's marker rather than counting frames, and proves
// that something did NOT happen by ordering, not by sleeping, wherever the
// protocol gives an order (§4: each client gets stored messages in the
// server's order). Only where it gives none (a reply to a blank or an
// oversize line, a message to a connection that never logged in, an
// extension's ack) does a check listen for `quietMs`.

import { encodeSend } from "../protocol.ts";
import { parseWireTime } from "../time.ts";
import type { Frame } from "./conn.ts";
import {
  type Check,
  CheckFailure,
  CheckSkip,
  type Client,
  type Probe,
  reasonOf,
  show,
} from "./probe.ts";

/** The line sent by the oversize-line check, in bytes: well over the default limit of 64 KiB. */
export const OVERSIZE_LINE_BYTES = 100 * 1024;
/** The pause between the pieces of a split frame. */
export const SPLIT_PAUSE_MS = 50;
/** The `time` a spoofing client claims; the server must not keep it. */
export const SPOOFED_TIME = "2001-02-03T04:05:06+0000";

const isStatus = (f: Frame) => f.type === "status";
const isMessage = (f: Frame) => f.type === "message";
const withText = (text: string) => (f: Frame) => f.type === "message" && f.message === text;
const encoder = new TextEncoder();

/** TLS 1.2 or 1.3, then a login with a fresh nickname is answered ok (§1, §2). */
const login: Check = {
  name: "login",
  kind: "core",
  async run(p) {
    const conn = await p.connect();
    if (conn.protocol !== "TLSv1.2" && conn.protocol !== "TLSv1.3") {
      throw new CheckFailure(`the server negotiated ${conn.protocol}; §1 asks for TLS 1.2 or 1.3`);
    }
    const nick = p.nick();
    const answer = await p.loginAnswer(conn, nick);
    if (answer.status !== "ok") {
      throw new CheckFailure(`the login as ${nick} was refused${reasonOf(answer)}`);
    }
    return `${conn.protocol}, logged in as ${nick}`;
  },
};

/** Nicknames that would let someone dress up as someone else are refused (§2). */
const nicknameRules: Check = {
  name: "nickname rules",
  kind: "core",
  async run(p) {
    const base = p.nick();
    // What each case has, for the failure sentence; a short name, for the pass line; the nickname.
    const cases: [string, string, string][] = [
      ["a bidi override (U+202E)", "bidi override", `${base.slice(0, 5)}\u202e${base.slice(5)}`],
      ["a zero-width space (U+200B)", "zero-width space", `${base}\u200b`],
      ["a control character (BEL)", "BEL", `${base}\u0007x`],
      ["a C1 control (U+009B)", "C1 control", `${base}\u009b`],
      ["leading white space", "leading space", ` ${base}`],
      ["33 characters", "33 characters", base.padEnd(33, "x")],
      ["nothing in it", "empty", ""],
    ];
    for (const [what, _, nick] of cases) {
      // One connection each: a wrongly accepted nickname must not turn the
      // next attempt into "already logged in", and a server may close after
      // fewer failed logins than ours.
      const conn = await p.connect();
      const answer = await p.loginAnswer(conn, nick);
      if (answer.status === "ok") {
        throw new CheckFailure(`a nickname with ${what} was accepted: ${show(nick)}`);
      }
      await p.close(conn);
    }
    return `refused all ${cases.length}: ${cases.map(([, name]) => name).join(", ")}`;
  },
};

/** A connected nickname is refused to a second connection, in any case (§2). */
const duplicateNickname: Check = {
  name: "duplicate nickname",
  kind: "core",
  async run(p) {
    const holder = await p.login();
    const conn = await p.connect();
    const same = await p.loginAnswer(conn, holder.nick);
    if (same.status === "ok") {
      throw new CheckFailure(`a second connection logged in as ${holder.nick} while it was taken`);
    }
    const variant = holder.nick.toUpperCase();
    const other = await p.loginAnswer(conn, variant);
    if (other.status === "ok") {
      throw new CheckFailure(
        `${variant} was accepted while ${holder.nick} is connected (§2: uniqueness ignores case)`,
      );
    }
    return `${holder.nick} and ${variant} refused while ${holder.nick} is connected`;
  },
};

/** After a refusal the same connection can log in with another nickname, for real (§2). */
const retryAfterRefusal: Check = {
  name: "retry after refusal",
  kind: "core",
  async run(p) {
    const holder = await p.login();
    const conn = await p.connect();
    const refused = await p.loginAnswer(conn, holder.nick);
    if (refused.status === "ok") {
      throw new CheckFailure(`the taken nickname ${holder.nick} was accepted`);
    }
    const nick = p.nick();
    const answer = await p.loginAnswer(conn, nick);
    if (answer.status !== "ok") {
      throw new CheckFailure(
        `after a refusal, the login as ${nick} on the same connection was refused${
          reasonOf(answer)
        } (§2: the client may try another login)`,
      );
    }
    const text = p.marker("retry");
    await p.send({ conn, nick }, text);
    await p.receive(holder, text, "the message of the client that logged in on its second try");
    return `refused, then logged in as ${nick} on the same connection, and its message was relayed`;
  },
};

/** A message reaches every other client and never comes back to its sender (§5). */
const relay: Check = {
  name: "relay",
  kind: "core",
  async run(p) {
    const [a, b, c] = [await p.login(), await p.login(), await p.login()];
    const text = p.marker("relay");
    await p.send(a, text);
    for (const receiver of [b, c]) {
      const got = await p.receive(receiver, text, `the message of ${a.nick}`);
      if (got.from !== a.nick) {
        throw new CheckFailure(
          `${a.nick}'s message reached ${receiver.nick} from ${show(got.from)}`,
        );
      }
    }
    // Stored messages reach a client in the server's order (§4): an echo of
    // the first message would arrive before this later one.
    const fence = p.marker("relay fence");
    await p.send(b, fence);
    await p.receive(a, fence, `a later message of ${b.nick}`);
    if (a.conn.seen(withText(text)).length > 0) {
      throw new CheckFailure(
        `the sender ${a.nick} got its own message back (§5: never to its sender)`,
      );
    }
    return `${a.nick}'s message reached ${b.nick} and ${c.nick}, not its sender`;
  },
};

/** A relayed message carries the server's `time`, ISO 8601 with seconds and an offset (§5). */
const time: Check = {
  name: "time",
  kind: "core",
  async run(p) {
    const [a, b] = [await p.login(), await p.login()];
    const text = p.marker("time");
    await p.send(a, text);
    const got = await p.receive(b, text, `the message of ${a.nick}`);
    if (got.time === "") throw new CheckFailure("the relayed message has no string `time`");
    const parsed = parseWireTime(got.time);
    if (!parsed || !/T\d{2}:\d{2}:\d{2}/.test(got.time)) {
      throw new CheckFailure(
        `time ${show(got.time)} is not ISO 8601 with seconds and an offset (§5)`,
      );
    }
    // The server's time has whole seconds: up to 1 s behind ours is no skew.
    const skew = Math.round((parsed.date.getTime() - Date.now()) / 1000);
    const clock = Math.abs(skew) <= 1
      ? "matches this machine's clock"
      : `${Math.abs(skew)} s ${skew > 0 ? "ahead of" : "behind"} this machine's clock`;
    const form = /[+-]\d{4}$/.test(got.time)
      ? ""
      : "; not the ±hhmm form §5 sends, though receivers accept it";
    return `time ${show(got.time)} parses and ${clock}${form}`;
  },
};

/** `from` and `time` sent by a client are ignored: nobody speaks as someone else (§5). */
const spoofedFrom: Check = {
  name: "spoofed from",
  kind: "core",
  async run(p) {
    const [a, b, c] = [await p.login(), await p.login(), await p.login()];
    const text = p.marker("spoof");
    await a.conn.write(JSON.stringify({ from: c.nick, time: SPOOFED_TIME, message: text }) + "\n");
    const got = await p.receive(b, text, `the message ${a.nick} sent as ${c.nick}`);
    if (got.from !== a.nick) {
      throw new CheckFailure(
        `a message ${a.nick} sent with "from":"${c.nick}" was relayed from ${
          show(got.from)
        } (§5: the server sets from to the sender's nickname)`,
      );
    }
    if (got.time === SPOOFED_TIME) {
      throw new CheckFailure(`the server kept the client's "time":"${SPOOFED_TIME}" (§5)`);
    }
    return `sent with "from":"${c.nick}" and an old time, relayed from ${a.nick} at the server's time`;
  },
};

/** Before login every frame is refused; nothing is relayed, stored or received (§3). */
const beforeLogin: Check = {
  name: "before login",
  kind: "core",
  async run(p) {
    const [witness, sender] = [await p.login(), await p.login()];
    const conn = await p.connect();
    const early = p.marker("before login");
    await conn.write(encodeSend(early));
    const answer = await p.status(conn, "a message sent before login");
    if (answer.status !== "error") {
      throw new CheckFailure(`a message sent before login was answered ok (§3: "login required")`);
    }
    const fence = p.marker("before login fence");
    await p.send(sender, fence);
    await p.receive(witness, fence, `the message of ${sender.nick}`);
    if (witness.conn.seen(withText(early)).length > 0) {
      throw new CheckFailure("a message sent before login was relayed to a logged-in client");
    }
    const late = await p.unwanted(conn, isMessage);
    if (late || conn.messageCount > 0) {
      throw new CheckFailure("a connection that had not logged in received messages (§3)");
    }
    const nick = p.nick();
    const login = await p.loginAnswer(conn, nick);
    if (login.status !== "ok") {
      throw new CheckFailure(
        `the login as ${nick} after the refused message was refused${reasonOf(login)}`,
      );
    }
    // The replay is in stored order: the early message, if stored, comes before the fence.
    await p.receive({ conn, nick }, fence, "in its replay the message sent after it connected");
    if (conn.seen(withText(early)).length > 0) {
      throw new CheckFailure("a message sent before login was stored: the replay holds it");
    }
    return `answered with an error${
      reasonOf(answer)
    }, neither relayed nor stored; no messages before login`;
  },
};

/** A later login gets the history oldest first, then live messages, each once (§4). */
const replay: Check = {
  name: "replay",
  kind: "core",
  async run(p) {
    const [a, witness] = [await p.login(), await p.login()];
    const first = p.marker("replay");
    const second = p.marker("replay");
    await p.send(a, first);
    await p.send(a, second);
    await p.receive(witness, first, `the message of ${a.nick}`);
    await p.receive(witness, second, `the second message of ${a.nick}`);
    await p.close(a.conn);
    const later = await p.login();
    const got = await p.receive(later, first, `in its replay the message ${a.nick} sent earlier`);
    if (got.from !== a.nick) {
      throw new CheckFailure(`the replayed message is from ${show(got.from)}, not ${a.nick}`);
    }
    await p.receive(later, second, `in its replay the second message of ${a.nick}`);
    const live = p.marker("replay live");
    await p.send(witness, live);
    await p.receive(later, live, "a live message after its replay");
    const order = later.conn.seen(isMessage).map((f) => f.type === "message" ? f.message : "");
    for (const [text, what] of [[first, "first"], [second, "second"], [live, "live"]]) {
      const count = order.filter((m) => m === text).length;
      if (count !== 1) {
        throw new CheckFailure(
          `the ${what} message reached the later client ${count} times (§4: once)`,
        );
      }
    }
    if (
      !(order.indexOf(first) < order.indexOf(second) && order.indexOf(second) < order.indexOf(live))
    ) {
      throw new CheckFailure(
        "the later client got the messages out of order (§4: oldest first, then live)",
      );
    }
    return "a later login got earlier messages oldest first, then live traffic, each once";
  },
};

/** The replay includes the messages the same nickname sent before (§4), and leaving frees it (§7). */
const replayOwn: Check = {
  name: "replay own",
  kind: "core",
  async run(p) {
    const [a, witness] = [await p.login(), await p.login()];
    const text = p.marker("replay own");
    await p.send(a, text);
    await p.receive(witness, text, `the message of ${a.nick}`);
    await p.close(a.conn);
    const conn = await p.connect();
    const answer = await p.loginAnswer(conn, a.nick);
    if (answer.status !== "ok") {
      throw new CheckFailure(
        `logging in again as ${a.nick} after it disconnected was refused${
          reasonOf(answer)
        } (§7: a nickname is free the moment its connection closes)`,
      );
    }
    await p.receive({ conn, nick: a.nick }, text, "in its replay its own earlier message");
    return `${a.nick} logged in again after leaving and its replay held its own message`;
  },
};

/** Bad frames each get an error and leave the connection working (§2, §5, §6). */
const badFrames: Check = {
  name: "bad frames",
  kind: "core",
  async run(p) {
    const [tester, witness] = [await p.login(), await p.login()];
    const frames: [string, string | Uint8Array][] = [
      ["malformed JSON", '{"message":"x"\n'],
      ["a JSON array", '["message","x"]\n'],
      ["a JSON string", '"message"\n'],
      ["an object without command or message", '{"hello":"world"}\n'],
      ["a message that is not a string", '{"message":42}\n'],
      ["an empty message", '{"message":""}\n'],
      ["an unknown command", '{"command":"dance"}\n'],
      [
        "invalid UTF-8",
        concat(encoder.encode('{"message":"'), [0xff, 0xfe], encoder.encode('"}\n')),
      ],
      ["a second login", JSON.stringify({ command: "login", nickname: p.nick() }) + "\n"],
    ];
    const wrong: string[] = [];
    for (const [what, bytes] of frames) {
      await tester.conn.write(bytes);
      const answer = await tester.conn.next(isStatus, p.timeoutMs);
      if (!answer.ok) {
        throw new CheckFailure(
          answer.why === "timeout"
            ? `no error for ${what} ${p.within}${wrong.length ? `; also: ${wrong.join("; ")}` : ""}`
            : `the connection ended after ${what} (${answer.reason}); §6: it stays open`,
        );
      }
      if (answer.frame.type === "status" && answer.frame.status !== "error") {
        wrong.push(`${what} was answered ok`);
      }
    }
    const text = p.marker("after bad frames");
    await p.send(tester, text);
    await p.receive(witness, text, "a valid message sent after the bad frames");
    const leaked = witness.conn.seen((f) =>
      f.type === "message" && f.from === tester.nick && f.message !== text
    );
    if (leaked.length > 0) wrong.push(`${leaked.length} bad frame(s) were relayed as messages`);
    if (wrong.length > 0) throw new CheckFailure(wrong.join("; "));
    return `${frames.length} bad frames each got {"status":"error"}; the connection still relays`;
  },
};

/** A line over the limit is discarded with an error, and the connection goes on (§1). */
const oversizeLine: Check = {
  name: "oversize line",
  kind: "core",
  async run(p) {
    const [tester, witness] = [await p.login(), await p.login()];
    // A valid message with a long unknown field: a server whose limit is
    // higher may accept it, and then stores only the short text.
    const big = p.marker("oversize line");
    const head = `{"message":${JSON.stringify(big)},"pad":"`;
    const pad = "x".repeat(OVERSIZE_LINE_BYTES - head.length - 2);
    await tester.conn.write(`${head}${pad}"}\n`);
    const after = p.marker("after oversize line");
    await p.send(tester, after);
    const size = `a ${OVERSIZE_LINE_BYTES / 1024} KiB line`;
    const result = await witness.conn.next(withText(after), p.timeoutMs);
    if (!result.ok) {
      if (tester.conn.closedReason !== undefined) {
        throw new CheckFailure(
          `the connection ended after ${size} (${tester.conn.closedReason}); ` +
            `§1: discard it, answer {"status":"error"}, keep the connection`,
        );
      }
      throw new CheckFailure(
        `${witness.nick} did not receive, ${p.within}, the message sent after ${size}`,
      );
    }
    const relayed = witness.conn.seen(withText(big)).length > 0;
    const error = await tester.conn.next(isStatus, p.quietMs);
    const answered = error.ok && error.frame.type === "status" ? error.frame : undefined;
    if (answered && answered.status === "error") {
      if (relayed) throw new CheckFailure(`${size} was answered with an error but relayed anyway`);
      return `${size} was answered with an error${
        reasonOf(answered)
      }; the next message went through`;
    }
    if (relayed) {
      return `${size} was accepted (this server's limit is above the default 64 KiB, ` +
        `which §1 allows); the next message went through`;
    }
    throw new CheckFailure(
      `${size} got no {"status":"error"} ${
        answered ? "(it was answered ok)" : `within ${p.quietMs} ms`
      } ` +
        `and was not relayed (§1: the server answers an error and keeps the connection)`,
    );
  },
};

/** A frame written in pieces, cut inside UTF-8 characters, and two frames in one write (§1). */
const splitFrames: Check = {
  name: "split frames",
  kind: "core",
  async run(p) {
    const [tester, witness] = [await p.login(), await p.login()];
    const first = `${p.marker("split")} é ✓ 🎉`;
    const second = p.marker("split, same write");
    const frame = encodeSend(first);
    const bytes = encoder.encode(frame);
    const cuts = [
      5, // inside "message"
      byteIndex(frame, "✓", 1), // one byte into a 3-byte character
      byteIndex(frame, "🎉", 2), // two bytes into a 4-byte character
    ];
    const answered = tester.conn.seen(isStatus).length; // The login's ok.
    let start = 0;
    for (const cut of cuts) {
      await tester.conn.write(bytes.slice(start, cut));
      start = cut;
      await new Promise((resolve) => setTimeout(resolve, SPLIT_PAUSE_MS));
    }
    await tester.conn.write(concat(bytes.slice(start), encoder.encode(encodeSend(second))));
    await p.receive(witness, first, "a message written in 4 pieces");
    await p.receive(witness, second, "the second of two frames written at once");
    const replies = tester.conn.seen(isStatus).length - answered;
    if (replies > 0) {
      throw new CheckFailure(`the pieces were answered with ${replies} status frame(s)`);
    }
    return `a frame in ${cuts.length + 1} writes cut inside UTF-8 characters arrived intact, ` +
      `and two frames in one write both arrived`;
  },
};

/** "\r\n" endings and blank or all-white-space lines are accepted silently (§1). */
const lineEndings: Check = {
  name: "line endings",
  kind: "core",
  async run(p) {
    const witness = await p.login();
    const conn = await p.connect();
    const nick = p.nick();
    const answer = await p.loginAnswer(conn, nick, { before: "\r\n \n\n\t\r\n", crlf: true });
    if (answer.status !== "ok") {
      throw new CheckFailure(
        `a login ending in \\r\\n after blank lines was refused${reasonOf(answer)}`,
      );
    }
    const first = p.marker("crlf");
    const second = p.marker("after blank lines");
    await conn.write(`${encodeSend(first).replace(/\n$/, "\r\n")}   \r\n\n${encodeSend(second)}`);
    await p.receive(witness, first, "a message ending in \\r\\n");
    await p.receive(witness, second, "a message after blank lines");
    const error = await p.unwanted(conn, isStatus);
    if (error) {
      throw new CheckFailure(
        `a blank line or a \\r\\n frame was answered with a status frame (§1: accept \\r\\n, skip blank lines)`,
      );
    }
    return "\\r\\n endings and blank lines were accepted without a reply";
  },
};

/** §8 message ids: a message with "id" is acked once stored. Informational. */
const extIds: Check = {
  name: "ext ids",
  kind: "extension",
  async run(p) {
    const [a, witness] = [await p.login(), await p.login()];
    const text = p.marker("id");
    const id = `${p.runId}-id`;
    await a.conn.write(encodeSend(text, id));
    await p.receive(witness, text, "a message that carried an id");
    const ack = await a.conn.next((f) => f.type === "status" && f.id === id, p.quietMs);
    if (!ack.ok) {
      throw new CheckSkip(
        `no ack within ${p.quietMs} ms after the message was relayed: ids not offered`,
      );
    }
    if (ack.frame.type === "status" && ack.frame.status !== "ok") {
      throw new CheckFailure(
        `a stored message with an id was answered with an error${reasonOf(ack.frame)}`,
      );
    }
    return `acked with {"status":"ok","id":"${id}"}`;
  },
};

/** §8 sequence numbers: every message carries a growing `seq`. Informational. */
const extSeq: Check = {
  name: "ext seq",
  kind: "extension",
  async run(p) {
    const [first, second] = await twoWithSeq(p);
    return second - first === 1
      ? `seq ${first} then ${second}`
      : `seq ${first} then ${second} (others' messages in between)`;
  },
};

/** §8 `since`: a login with since N replays only messages with seq > N. Informational. */
const extSince: Check = {
  name: "ext since",
  kind: "extension",
  async run(p) {
    const [first, _second, texts] = await twoWithSeq(p);
    const conn = await p.connect();
    const nick = p.nick();
    const answer = await p.loginAnswer(conn, nick, { since: first });
    if (answer.status !== "ok") {
      throw new CheckFailure(`a login with "since":${first} was refused${reasonOf(answer)}`);
    }
    await p.receive(
      { conn, nick },
      texts[1],
      `in its replay after "since":${first} the message after it`,
    );
    if (conn.seen(withText(texts[0])).length > 0) {
      throw new CheckSkip(
        `the replay after "since":${first} still held seq ${first}: since not offered`,
      );
    }
    return `a login with "since":${first} replayed from seq ${first + 1} on`;
  },
};

/** Two messages relayed from one client to another, and their seq (skips when there is none). */
async function twoWithSeq(p: Probe): Promise<[number, number, [string, string]]> {
  const [a, witness]: Client[] = [await p.login(), await p.login()];
  const texts: [string, string] = [p.marker("seq"), p.marker("seq")];
  for (const text of texts) await p.send(a, text);
  const got = [
    await p.receive(witness, texts[0], `the message of ${a.nick}`),
    await p.receive(witness, texts[1], `the second message of ${a.nick}`),
  ];
  const [first, second] = got.map((f) => f.seq);
  if (first === undefined && second === undefined) throw new CheckSkip("the server sends no seq");
  if (first === undefined || second === undefined) {
    throw new CheckFailure("only one of two relayed messages carried a seq");
  }
  if (second <= first) throw new CheckFailure(`seq went from ${first} to ${second}; it must grow`);
  return [first, second, texts];
}

/** The byte offset of `skip` bytes into the first `char` of `text`. */
function byteIndex(text: string, char: string, skip: number): number {
  return encoder.encode(text.slice(0, text.indexOf(char))).length + skip;
}

function concat(...parts: ArrayLike<number>[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, part) => n + part.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

/** Every check, in the order they run: the login first (the others need it), extensions last. */
export const CHECKS: readonly Check[] = [
  login,
  nicknameRules,
  duplicateNickname,
  retryAfterRefusal,
  relay,
  time,
  spoofedFrom,
  beforeLogin,
  replay,
  replayOwn,
  badFrames,
  oversizeLine,
  splitFrames,
  lineEndings,
  extIds,
  extSeq,
  extSince,
];
