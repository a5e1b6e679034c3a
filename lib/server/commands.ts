// What a logged-in connection's frames do: a message is posted, or sent to
// one person when it has `to` (direct.ts), `{"command":"who"}` is answered
// (presence.ts), and the commands of §12–§13 go to moderation.ts. Each
// frame's answer takes its place in the connection's answers (answers.ts):
// the ack of a message once it is stored, or once a direct message is on
// its way, and a command's answer once the registry holds its change.
// connection.ts keeps the I/O, the login and the limits; this file keeps
// what the hub is asked to do.

import type { OpsFrame } from "../ops_frames.ts";
import type { SendFrame, WhoFrame } from "../protocol.ts";
import type { Answers } from "./answers.ts";
import type { DirectResult } from "./direct.ts";
import type { Hub, HubResult, Member } from "./hub.ts";
import { STORAGE_UNAVAILABLE } from "./store.ts";

/** What the commands of one connection need from it. */
export interface CommandsContext {
  hub: Hub;
  /** The connection, as the hub knows it (logged in). */
  member: Member;
  /** Its answers, in the order of its frames. */
  answers: Answers;
}

/**
 * Runs a logged-in connection's frames, each answer in its frame's place.
 *
 * @example
 * ```ts
 * declare const context: CommandsContext; // the connection's hub, member and answers
 * const commands = new Commands(context);
 * commands.run({ type: "send", message: "hello", id: "1" }); // acked once stored
 * await context.answers.owed(); // once every answer owed has been queued (undefined: none is)
 * ```
 */
export class Commands {
  readonly #context: CommandsContext;

  constructor(context: CommandsContext) {
    this.#context = context;
  }

  /** Runs one frame of a logged-in connection. */
  run(frame: SendFrame | WhoFrame | OpsFrame): void {
    const { hub, member, answers } = this.#context;
    if (frame.type === "who") {
      // Read in its turn: a fresh `who`, and the answers after it wait behind it.
      answers.now(() => {
        const answer = hub.who(member);
        if (answer.ok) member.outbox.fence();
        else answers.reject(answer.reason);
      });
      return;
    }
    if (frame.type !== "send") {
      const answer = hub.moderate(member, frame);
      // Moderation's answers never reject.
      if (answer instanceof Promise) answers.later(answer, (frame) => answers.reply(frame));
      else answers.reply(answer);
      return;
    }
    if (frame.to !== undefined) {
      this.#answerDirect(hub.direct(member, frame.to, frame.message), frame.id);
      return;
    }
    const posted = hub.post(member, frame.message);
    if (!posted.ok) {
      answers.reject(posted.reason, frame.id);
      return;
    }
    // An accepted post is answered once its fate is known: `ok` with its id
    // when stored, or refused as storage unavailable when it cannot be. A
    // post without id (every core client's) is answered only if refused: it
    // keeps no place among the answers, which cost 10-20 % of the
    // deliveries at N=10 fan-out; its rare refusal goes after the answers
    // owed when it is known.
    const id = frame.id;
    if (id === undefined) {
      answers.whenever(posted.stored, () => answers.reject(STORAGE_UNAVAILABLE));
      return;
    }
    answers.later(
      posted.stored,
      () => answers.reply({ status: "ok", id }),
      () => answers.reject(STORAGE_UNAVAILABLE, id),
    );
  }

  /** Answers a direct message: `ok` with its id once on its way, or its refusal (§11). */
  #answerDirect(result: DirectResult, id: string | undefined): void {
    if (result.ok !== "pending") this.#answer(result, id);
    else this.#context.answers.later(result.done, (done) => this.#answer(done, id));
  }

  #answer(result: HubResult, id: string | undefined): void {
    const { answers } = this.#context;
    if (!result.ok) answers.reject(result.reason, id);
    else if (id !== undefined) answers.reply({ status: "ok", id });
  }
}
