// The checks of `chat check` for the extensions of PROTOCOL.md §8: message
// ids and acks, `seq`, and a login with `since`. Informational: reported
// as pass, fail or skip (the server does not offer it), never deciding the
// exit code. The room extensions (§9–§11) have a file of their own beside
// it (room_checks.ts); new extension checks go here or beside them, and in
// CHECKS (lib/check/checks.ts).

import { encodeSend } from "../protocol.ts";
import {
  type Check,
  CheckFailure,
  CheckSkip,
  type Client,
  type Probe,
  reasonOf,
  withText,
} from "./probe.ts";

/** §8 message ids: a message with "id" is acked once stored. Informational. */
export const extIds: Check = {
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
export const extSeq: Check = {
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
export const extSince: Check = {
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
