// What a logged-in connection's frames do: a message is posted, or sent to
// one person when it has `to` (direct.ts), `{"command":"who"}` is answered
// (presence.ts), and the commands of §12–§13 go to moderation.ts. Also the
// answers a connection owes for later: the ack of a message once it is
// stored, or once a direct message is on its way, and a command's answer
// once the registry holds its change, which a polite end waits for.
// connection.ts keeps the I/O, the login and the limits; this file keeps
// what the hub is asked to do.

import type { OpsFrame } from "../ops_frames.ts";
import type { SendFrame, StatusFrame, WhoFrame } from "../protocol.ts";
import type { DirectResult } from "./direct.ts";
import type { Hub, HubResult, Member } from "./hub.ts";
import { STORAGE_UNAVAILABLE } from "./store.ts";

/** What the commands of one connection need from it. */
export interface CommandsContext {
  hub: Hub;
  /** The connection, as the hub knows it (logged in). */
  member: Member;
  /** Queues a reply. */
  reply(frame: StatusFrame): void;
  /** Refuses a frame: an error reply, logged. */
  reject(reason: string, id?: string): void;
}

/**
 * Runs a logged-in connection's frames and keeps count of the answers it
 * owes.
 *
 * @example
 * ```ts
 * declare const context: CommandsContext; // the connection's hub, member and replies
 * const commands = new Commands(context);
 * commands.run({ type: "send", message: "hello", id: "1" }); // acked once stored
 * await commands.owed(); // once every answer owed has been queued (undefined: none is)
 * ```
 */
export class Commands {
  readonly #context: CommandsContext;
  /** Answers waiting for a message to be stored, or a direct message to be on its way. */
  #pending = 0;
  #answered: (() => void) | undefined;
  /** Answers to commands of §12–§13 still to come, and the end of the last of them. */
  #commandsOwed = 0;
  #commandsAnswered: Promise<void> = Promise.resolve();

  constructor(context: CommandsContext) {
    this.#context = context;
  }

  /** Runs one frame of a logged-in connection. */
  run(frame: SendFrame | WhoFrame | OpsFrame): void {
    const { hub, member, reject } = this.#context;
    if (frame.type === "who") {
      const answer = hub.who(member);
      if (!answer.ok) reject(answer.reason);
      return;
    }
    if (frame.type !== "send") {
      this.#answerCommand(hub.moderate(member, frame));
      return;
    }
    if (frame.to !== undefined) {
      this.#answerDirect(hub.direct(member, frame.to, frame.message), frame.id);
      return;
    }
    const posted = hub.post(member, frame.message);
    if (!posted.ok) {
      reject(posted.reason, frame.id);
      return;
    }
    this.#answerWhenStored(posted.stored, frame.id);
  }

  /** Resolves once no answer is owed any more; undefined when none is now. */
  owed(): Promise<void> | undefined {
    if (this.#pending === 0) return undefined;
    return new Promise((resolve) => this.#answered = resolve);
  }

  /**
   * Answers an accepted post once its fate is known: `ok` with its id (no
   * answer without one) when stored, or refused as storage unavailable,
   * with or without an id, when it cannot be.
   */
  #answerWhenStored(stored: Promise<number>, id: string | undefined): void {
    this.#pending++;
    // One then() with both handlers, not then().finally(): one promise per
    // message, not three, on the path every message takes.
    stored.then(
      () => {
        if (id !== undefined) this.#context.reply({ status: "ok", id });
        this.#settle();
      },
      () => {
        this.#context.reject(STORAGE_UNAVAILABLE, id);
        this.#settle();
      },
    );
  }

  /** Answers a direct message: `ok` with its id once on its way, or its refusal (§11). */
  #answerDirect(result: DirectResult, id: string | undefined): void {
    if (result.ok !== "pending") {
      this.#answer(result, id);
      return;
    }
    this.#pending++;
    result.done.then((done) => {
      this.#answer(done, id);
      this.#settle();
    });
  }

  /**
   * Answers a command of §12–§13, now or once the registry (or another
   * server) has it, and always after the answers to the commands before it:
   * they carry no id, so a client tells them apart by their order.
   */
  #answerCommand(answer: StatusFrame | Promise<StatusFrame>): void {
    if (!(answer instanceof Promise) && this.#commandsOwed === 0) {
      this.#context.reply(answer);
      return;
    }
    this.#pending++;
    this.#commandsOwed++;
    // Moderation's answers never reject.
    this.#commandsAnswered = this.#commandsAnswered.then(() => answer).then((frame) => {
      this.#context.reply(frame);
      this.#commandsOwed--;
      this.#settle();
    });
  }

  #answer(result: HubResult, id: string | undefined): void {
    if (!result.ok) this.#context.reject(result.reason, id);
    else if (id !== undefined) this.#context.reply({ status: "ok", id });
  }

  #settle(): void {
    if (--this.#pending === 0) this.#answered?.();
  }
}
