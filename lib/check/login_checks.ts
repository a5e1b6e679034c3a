// The checks of `chat check` about who may speak (PROTOCOL.md §1–§3): the
// TLS version and the login, the nickname rules, a taken nickname, a retry
// after a refusal, and a connection that never logged in. All core: each
// decides the exit code. The order they run in is lib/check/checks.ts's.

import { encodeSend } from "../protocol.ts";
import { type Check, CheckFailure, isMessage, reasonOf, show, withText } from "./probe.ts";

/** TLS 1.2 or 1.3, then a login with a fresh nickname is answered ok (§1, §2). */
export const login: Check = {
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
export const nicknameRules: Check = {
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
export const duplicateNickname: Check = {
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
export const retryAfterRefusal: Check = {
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

/** Before login every frame is refused; nothing is relayed, stored or received (§3). */
export const beforeLogin: Check = {
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
