// The checks of `chat check` for the room extensions of PROTOCOL.md:
// features (§9), presence (§10) and direct messages (§11). Informational,
// like the other extensions (extension_checks.ts): pass, fail (WARN) or skip
// when the server does not list the feature; never the exit code, so a
// core server passes with all of them skipped.
//
// Where the protocol gives an order, a check proves that something did NOT
// happen by it, not by sleeping: a frame the server would have sent comes
// before a later message of the same sender (or, for a leave, before a
// message sent after another client saw the leave).

import { encodeCommand, encodeDirectSend, type StatusFrame } from "../protocol.ts";
import type { Frame } from "./conn.ts";
import {
  type Check,
  CheckFailure,
  CheckSkip,
  type Client,
  type Probe,
  reasonOf,
  show,
  withText,
} from "./probe.ts";

/** What the checks ask for: the two features checked, and one no server knows (§9: ignored). */
const ASKED = ["presence", "direct", "x-chat-check"];

/** §9: a login with `features` gets an `ok` listing the server's. Informational. */
export const extFeatures: Check = {
  name: "ext features",
  kind: "extension",
  async run(p) {
    const conn = await p.connect();
    const answer = await p.loginAnswer(conn, p.nick(), { features: ASKED });
    if (answer.status !== "ok") {
      throw new CheckFailure(
        `a login asking for features (one unknown) was refused${reasonOf(answer)}`,
      );
    }
    if (answer.features === undefined) {
      throw new CheckSkip("a login with features got a plain ok: features (§9) not offered");
    }
    const listed = answer.features.length === 0 ? "nothing" : answer.features.join(", ");
    return `a login with features got an ok listing ${listed}`;
  },
};

/** §9: a login without `features` gets a plain `ok` and no frame of §10–§11. Informational. */
export const extCoreLogin: Check = {
  name: "ext core login",
  kind: "extension",
  async run(p) {
    const witness = await roomLogin(p, ["presence"]);
    const conn = await p.connect();
    const core: Client = { conn, nick: p.nick() };
    const answer = await p.loginAnswer(conn, core.nick);
    if (answer.status !== "ok") throw new CheckFailure(`the login was refused${reasonOf(answer)}`);
    if (answer.features !== undefined) {
      throw new CheckFailure("a login without features got an ok with a features list");
    }
    // Someone comes and goes while the core client is there.
    const visitor = await roomLogin(p, []);
    await p.close(visitor.conn);
    await expect(p, witness, isLeaveOf(visitor.nick), `a leave event for ${visitor.nick}`);
    const fence = p.marker("core fence");
    await p.send(witness, fence);
    await p.receive(core, fence, `a message of ${witness.nick} sent after ${visitor.nick} left`);
    const count = conn.extensionFrames;
    if (count > 0) {
      throw new CheckFailure(
        `${core.nick}, logged in without features, got ${count} presence or direct frame(s)`,
      );
    }
    return `${core.nick} got a plain ok and no presence frame while ${visitor.nick} came and went`;
  },
};

/** §10: the `who` event comes after the replay and lists everyone, the receiver too. Informational. */
export const extWho: Check = {
  name: "ext who",
  kind: "extension",
  async run(p) {
    const speaker = await roomLogin(p, ["presence"]);
    const witness = await p.login();
    const old = p.marker("before the who");
    await p.send(speaker, old);
    await p.receive(witness, old, `the message of ${speaker.nick}`);
    const a = await roomLogin(p, ["presence"]);
    const who = await expect(p, a, (f) => f.type === "who", "a who event after its replay");
    await p.receive(a, old, `in its replay the earlier message of ${speaker.nick}`);
    const all = a.conn.seen(() => true);
    if (all.indexOf(who) < all.findIndex(withText(old))) {
      throw new CheckFailure("the who event came before the end of the replay (§10: after it)");
    }
    const listed = who.type === "who" ? who.nicknames : [];
    const missing = [a, speaker, witness].filter((c) => !listed.includes(c.nick));
    if (missing.length > 0) {
      throw new CheckFailure(
        `the who event left out ${missing.map((c) => c.nick).join(", ")} (logged in)`,
      );
    }
    return `after the replay: who listed ${listed.length} nickname(s), ${a.nick} itself among them`;
  },
};

/** §10: a join and a leave (`quit`) reach another client; nobody sees their own join. Informational. */
export const extJoinLeave: Check = {
  name: "ext join leave",
  kind: "extension",
  async run(p) {
    const a = await roomLogin(p, ["presence"]);
    const b = await p.login(); // Without features: it joins all the same.
    await expect(p, a, (f) => f.type === "join" && f.nickname === b.nick, `a join for ${b.nick}`);
    await p.close(b.conn);
    const leave = await expect(p, a, isLeaveOf(b.nick), `a leave event for ${b.nick}`);
    const reason = leave.type === "leave" ? leave.reason : undefined;
    if (reason !== "quit") {
      throw new CheckFailure(
        `${b.nick} closed its connection politely, but the leave's reason is ${
          reason === undefined ? "missing" : show(reason)
        }, not "quit"`,
      );
    }
    if (a.conn.seen((f) => f.type === "join" && f.nickname === a.nick).length > 0) {
      throw new CheckFailure(`${a.nick} got its own join (§10: in no event)`);
    }
    return `${a.nick} saw ${b.nick} join and leave (quit), and not its own join`;
  },
};

/** §10: `{"command":"who"}` is answered with a fresh `who` event. Informational. */
export const extWhoCommand: Check = {
  name: "ext who command",
  kind: "extension",
  async run(p) {
    const a = await roomLogin(p, ["presence"]);
    await expect(p, a, (f) => f.type === "who", "the who event after its login");
    const b = await p.login();
    await expect(p, a, (f) => f.type === "join" && f.nickname === b.nick, `a join for ${b.nick}`);
    await a.conn.write(encodeCommand("who"));
    const answer = await expect(
      p,
      a,
      (f) => f.type === "who" || (f.type === "status" && f.status === "error"),
      'an answer to {"command":"who"}',
    );
    if (answer.type === "status") {
      throw new CheckFailure(`{"command":"who"} was refused${reasonOf(answer)}`);
    }
    const listed = answer.type === "who" ? answer.nicknames : [];
    const missing = [a, b].filter((c) => !listed.includes(c.nick));
    if (missing.length > 0) {
      throw new CheckFailure(`the answer left out ${missing.map((c) => c.nick).join(", ")}`);
    }
    return `{"command":"who"} was answered with a who event of ${listed.length} nickname(s)`;
  },
};

/** §11: a direct message reaches its recipient and nobody else, not even as public text. Informational. */
export const extDirect: Check = {
  name: "ext direct",
  kind: "extension",
  async run(p) {
    const [a, b, c] = [
      await roomLogin(p, ["direct"]),
      await roomLogin(p, ["direct"]),
      await roomLogin(p, ["direct"]),
    ];
    const text = p.marker("direct");
    const id = `${p.runId}-direct`;
    await a.conn.write(encodeDirectSend(b.nick, text, id));
    const got = await expect(p, b, (f) => f.type === "direct" && f.message === text, "it");
    if (got.type === "direct" && got.from !== a.nick) {
      throw new CheckFailure(`the direct message came from ${show(got.from)}, not ${a.nick}`);
    }
    const ack = await a.conn.next((f) => f.type === "status" && f.id === id, p.quietMs);
    if (ack.ok && ack.frame.type === "status" && ack.frame.status === "error") {
      throw new CheckFailure(
        `it arrived, but its id was answered with an error${reasonOf(ack.frame)}`,
      );
    }
    // Whatever the server did with it came before these later messages of the same senders.
    const fence = p.marker("direct fence");
    await p.send(a, fence);
    await p.receive(c, fence, `a later message of ${a.nick}`);
    await p.receive(b, fence, `a later message of ${a.nick}`);
    const back = p.marker("direct fence back");
    await p.send(c, back);
    await p.receive(a, back, `a later message of ${c.nick}`);
    if (c.conn.seen(carrying(text)).length > 0) {
      throw new CheckFailure(`${c.nick}, not its recipient, got the direct message`);
    }
    if (a.conn.seen(carrying(text)).length > 0) throw new CheckFailure("its sender got it back");
    if (b.conn.seen(carrying(text)).length !== 1) {
      throw new CheckFailure(`${b.nick} got it more than once, or also as a public message`);
    }
    return `only ${b.nick} got it, from ${a.nick}${
      ack.ok ? ", and it was acked" : " (no ack: ids not offered)"
    }`;
  },
};

/** §11: a direct message to nobody, or to a login without `direct`, is refused. Informational. */
export const extDirectRefused: Check = {
  name: "ext direct refused",
  kind: "extension",
  async run(p) {
    const a = await roomLogin(p, ["direct"]);
    const witness = await roomLogin(p, ["direct"]);
    const core = await p.login();
    const nobody = p.nick(); // Never logged in.
    const answers: string[] = [];
    const texts: string[] = [];
    for (const [to, what] of [[nobody, "nobody"], [core.nick, "a login without direct"]]) {
      const text = p.marker(`direct to ${what}`);
      const id = `${p.runId}-${texts.length}`;
      texts.push(text);
      await a.conn.write(encodeDirectSend(to, text, id));
      const answer = await refusal(p, a, id, `a direct message to ${what}`);
      if (answer.status === "ok") {
        throw new CheckFailure(`a direct message to ${what} (${to}) was acked (§11: an error)`);
      }
      answers.push(`${what}${reasonOf(answer)}${answer.id === id ? "" : " without its id"}`);
    }
    const fence = p.marker("refused fence");
    await p.send(a, fence);
    await p.receive(witness, fence, `a later message of ${a.nick}`);
    await p.receive(core, fence, `a later message of ${a.nick}`);
    for (const c of [witness, core]) {
      if (texts.some((text) => c.conn.seen(carrying(text)).length > 0)) {
        throw new CheckFailure(`${c.nick} got a direct message that was refused`);
      }
    }
    return `refused: to ${answers.join("; to ")}`;
  },
};

/** §11: direct messages are never stored: no replay holds one. Informational. */
export const extDirectNotReplayed: Check = {
  name: "ext direct not replayed",
  kind: "extension",
  async run(p) {
    const a = await roomLogin(p, ["direct"]);
    const b = await roomLogin(p, ["direct"]);
    const secret = p.marker("direct, never replayed");
    await a.conn.write(encodeDirectSend(b.nick, secret));
    await expect(p, b, (f) => f.type === "direct" && f.message === secret, "the direct message");
    const after = p.marker("public after the direct one");
    await p.send(a, after);
    await p.receive(b, after, `a later message of ${a.nick}`);
    await p.close(b.conn);
    const again: Client = { conn: await p.connect(), nick: b.nick };
    const answer = await p.loginAnswer(again.conn, b.nick, { features: ASKED });
    if (answer.status !== "ok") {
      throw new CheckFailure(`logging in again as ${b.nick} was refused${reasonOf(answer)}`);
    }
    const newcomer = await roomLogin(p, []);
    for (const c of [again, newcomer]) {
      await p.receive(c, after, "in its replay the public message sent after the direct one");
      if (c.conn.seen(carrying(secret)).length > 0) {
        throw new CheckFailure(`${c.nick}'s replay held the direct message`);
      }
    }
    return `neither ${b.nick} logging in again nor ${newcomer.nick} got it in a replay`;
  },
};

/** Logs in asking for features; skips the check unless the server lists each of `needed`. */
async function roomLogin(p: Probe, needed: readonly string[]): Promise<Client> {
  const conn = await p.connect();
  const nick = p.nick();
  const answer = await p.loginAnswer(conn, nick, { features: ASKED });
  if (answer.status !== "ok") {
    throw new CheckFailure(`the login as ${nick} with features was refused${reasonOf(answer)}`);
  }
  const listed = answer.features;
  if (listed === undefined) throw new CheckSkip("the server lists no features (§9 not offered)");
  const missing = needed.filter((feature) => !listed.includes(feature));
  if (missing.length > 0) throw new CheckSkip(`the server does not list ${missing.join(", ")}`);
  return { conn, nick };
}

/** Waits for a frame on `client`; none fails the check, saying what was expected. */
async function expect(
  p: Probe,
  client: Client,
  match: (frame: Frame) => boolean,
  what: string,
): Promise<Frame> {
  const result = await client.conn.next(match, p.timeoutMs);
  if (result.ok) return result.frame;
  throw new CheckFailure(
    result.why === "timeout"
      ? `${client.nick} did not receive ${what} ${p.within}`
      : `${client.nick} lost its connection (${result.reason}) before ${what}`,
  );
}

/** The answer to a direct message that must be refused: the status with its id (or an error without one). */
async function refusal(p: Probe, client: Client, id: string, what: string): Promise<StatusFrame> {
  const answer = await expect(
    p,
    client,
    (f) => f.type === "status" && (f.id === id || (f.id === undefined && f.status === "error")),
    `an answer to ${what}`,
  );
  return answer.type === "status" ? answer : { status: "ok" };
}

const isLeaveOf = (nick: string) => (f: Frame): boolean =>
  f.type === "leave" && f.nickname === nick;

/** A message or direct message with this text. */
const carrying = (text: string) => (f: Frame): boolean =>
  (f.type === "message" || f.type === "direct") && f.message === text;
