// What a server's refusal means for the session, beyond "try again later":
//
// - A login refused as banned (§13: "banned", "banned until …", "banned:
//   REASON") or "not invited" (an invitation list): no other nickname and
//   no retry changes it, so the client says so and ends (exit 1), on a
//   terminal too.
// - A login refused because the nickname is registered to another
//   identity (§12: "nickname is registered"): on a terminal the user picks
//   another nickname; without one, the client ends. Never a retry loop.
// - An error frame without an `id` that says "kicked by OP…" or "banned…"
//   while logged in is not an answer to anything: an operator cut us off
//   (§13), and the server closes the connection. The client says so and
//   does not reconnect (a ban would refuse it; a kick means "go").
//
// Every other refusal keeps the behaviour the session had: another
// nickname on a terminal, a retry when we were logged in before (the
// server has often not yet noticed our old connection), fatal in a pipe.

import type { StatusFrame } from "../protocol.ts";
import { NICKNAME_REGISTERED, NOT_INVITED } from "../ops_frames.ts";
import { STORAGE_UNAVAILABLE } from "../protocol.ts";

/** What a refused login without a reason is taken to mean (a core server). */
const DEFAULT_REASON = "nickname taken or not allowed";

/** What the session does about a refused login. */
export interface LoginRefusal {
  /** End the run (exit 1), ask for another nickname, or retry after the backoff. */
  then: "fail" | "choose" | "retry";
  /** The sentence for the user. */
  text: string;
  /** The server's reason (or the default), for the question asking for another nickname. */
  why: string;
}

/**
 * Decides what a login refusal with `reason` means for `nickname`.
 *
 * @example
 * ```ts
 * const where = { everLoggedIn: true, interactive: true, canChoose: true };
 * loginRefusal("banned: spam", "bob", where).then; // "fail"
 * loginRefusal("nickname taken", "bob", where).then; // "retry"
 * ```
 */
export function loginRefusal(
  reason: string | undefined,
  nickname: string,
  where: { everLoggedIn: boolean; interactive: boolean; canChoose: boolean },
): LoginRefusal {
  const why = reason ?? DEFAULT_REASON;
  const refused = `login as ${nickname} refused: ${why}`;
  if (/^banned\b/.test(why)) {
    return { then: "fail", why, text: `${refused} (an operator banned you; not retrying)` };
  }
  if (why === NOT_INVITED) {
    return {
      then: "fail",
      why,
      text: `${refused}: this server admits only the identities it was given ` +
        "(`chat identity` prints yours, for its operators)",
    };
  }
  if (why === NICKNAME_REGISTERED) {
    return {
      then: where.canChoose ? "choose" : "fail",
      why,
      text: `${refused}: another identity registered it ` +
        "(pick another nickname, or present that identity: --identity FILE)",
    };
  }
  if (where.everLoggedIn || (why === STORAGE_UNAVAILABLE && where.interactive)) {
    return { then: "retry", why, text: refused };
  }
  return { then: where.canChoose ? "choose" : "fail", why, text: refused };
}

/**
 * The reason of an operator's cut (§13: `{"status":"error","reason":"kicked
 * by OP: …"}` or "banned by …", no `id`), or undefined for any other frame.
 */
export function cutReason(frame: StatusFrame): string | undefined {
  if (frame.status !== "error" || frame.id !== undefined || frame.reason === undefined) {
    return undefined;
  }
  return /^(kicked by|banned)\b/.test(frame.reason) ? frame.reason : undefined;
}
