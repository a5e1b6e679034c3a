// The checks of `chat check` about lines and frames (PROTOCOL.md §1, §2,
// §5, §6): bad frames, a line over the limit, a frame written in pieces
// (cut inside UTF-8 characters) and two in one write, "\r\n" and blank
// lines. All core: each decides the exit code.

import { encodeSend } from "../protocol.ts";
import { concatBytes } from "../bytes.ts";
import { type Check, CheckFailure, isStatus, reasonOf, withText } from "./probe.ts";

const encoder = new TextEncoder();

/** The line sent by the oversize-line check, in bytes: well over the default limit of 64 KiB. */
export const OVERSIZE_LINE_BYTES = 100 * 1024;
/** The pause between the pieces of a split frame. */
export const SPLIT_PAUSE_MS = 50;

/** Bad frames each get an error and leave the connection working (§2, §5, §6). */
export const badFrames: Check = {
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
        concatBytes([
          encoder.encode('{"message":"'),
          Uint8Array.of(0xff, 0xfe),
          encoder.encode('"}\n'),
        ]),
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
export const oversizeLine: Check = {
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
export const splitFrames: Check = {
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
    await tester.conn.write(concatBytes([bytes.slice(start), encoder.encode(encodeSend(second))]));
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
export const lineEndings: Check = {
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

/** The byte offset of `skip` bytes into the first `char` of `text`. */
function byteIndex(text: string, char: string, skip: number): number {
  return encoder.encode(text.slice(0, text.indexOf(char))).length + skip;
}
