// The checks of `chat check` about messages (PROTOCOL.md §4, §5, §7): the
// relay, the server's `time`, a spoofed `from`, the replay of the history
// to a later login and to the same nickname. All core: each decides the
// exit code.

import { parseWireTime } from "../time.ts";
import { type Check, CheckFailure, isMessage, reasonOf, show, withText } from "./probe.ts";

/** The `time` a spoofing client claims; the server must not keep it. */
export const SPOOFED_TIME = "2001-02-03T04:05:06+0000";

/** A message reaches every other client and never comes back to its sender (§5). */
export const relay: Check = {
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
export const time: Check = {
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
export const spoofedFrom: Check = {
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

/** A later login gets the history oldest first, then live messages, each once (§4). */
export const replay: Check = {
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
export const replayOwn: Check = {
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
