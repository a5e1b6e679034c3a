// Keeping a room safe (PROTOCOL.md §12–§13): who may log in, registered
// nicknames, and the operators' commands, enforced with the registry
// (registry.ts: registrations and bans, durable, shared through Redis) and
// the access lists (access.ts: operators, invitations).
//
// - At login (Hub.login asks admit()), in this order: a ban (on the
//   identity, or on the address for a client without one), "banned", with
//   its end and reason; with an invitation list, an identity neither
//   invited nor an operator, "not invited"; a nickname registered to
//   another identity (or the client has none), "nickname is registered".
// - register / unregister bind the nickname to the connection's identity;
//   the answer waits until the registry holds it durably.
// - kick / ban / unban / bans, from operators only. A kicked or banned
//   connection gets the error frame, then a polite close, and leaves with
//   reason `kicked` / `banned`. A ban is made through the registry, whose
//   every change reaches every server (its own included): each then cuts
//   its connections of the banned identity or address. So one path cuts
//   them all, here and on the other servers of a shared chat. A kick of
//   someone on another server, or a ban of a nickname whose identity only
//   that server knows, goes there as an order (cut_order.ts).
//
// Commands are accepted from every logged-in connection, a core client's
// too (a person typing into openssl s_client): their answers are status
// frames every client understands. Each operator action and each refusal
// is one log line (who, whom, what, why), never message text.

import { withDeadline } from "../deadline.ts";
import { errorReason } from "../errors.ts";
import { checkNickname, nicknameKey } from "../nickname.ts";
import { NICKNAME_REGISTERED, NOT_INVITED, type OpsFrame } from "../ops_frames.ts";
import { parseFingerprint } from "../fingerprint.ts";
import type { Feature, StatusFrame } from "../protocol.ts";
import { formatWireTime } from "../time.ts";
import type { AccessLists } from "./access.ts";
import { type CutOrder, decodeOrder, encodeOrder } from "./cut_order.ts";
import type { Member } from "./hub.ts";
import type { Logger } from "./log.ts";
import type { Presence } from "./presence.ts";
import { type Ban, NOT_REGISTERED, type Registry, type RegistryChange } from "./registry.ts";
import type { SharedChat } from "./shared_chat.ts";
import { STORAGE_UNAVAILABLE } from "./store.ts";

/** The answer to an operator command from anyone else. */
export const NOT_AN_OPERATOR = "not an operator";
/** The answer to a kick or ban of a nickname nobody uses (and, for a ban, nobody registered). */
export const NO_SUCH_NICKNAME = "no such nickname";
/** The answer to an unban of a target that is not banned. */
export const NOT_BANNED = "not banned";
/** The answer to a register from a client without a certificate. */
export const NEEDS_CERTIFICATE = "register needs a client certificate";

/** What moderation needs from the hub. */
export interface ModerationHost {
  /** The member here under nickname key `key` (logged in, or with a login under way). */
  local(key: string): Member | undefined;
  /** Every member here (logged in, or with a login under way). */
  members(): Iterable<Member>;
  /** Who is logged in (with a shared chat: everywhere), and where. */
  presence: Presence;
  shared?: SharedChat;
}

/** Options of {@linkcode Moderation}. */
export interface ModerationOptions {
  registry: Registry;
  access: AccessLists;
  logger: Logger;
  /** The wall clock timed bans start from. */
  clock: () => Date;
  /** The features the server speaks: commands of one it does not are unknown. */
  features: readonly Feature[];
}

/**
 * How long the answer to a ban of someone on another server waits for that
 * server's ban to reach the registry here: it is on its way all the same.
 */
export const REMOTE_BAN_WAIT_MS = 2_000;

/**
 * The most bans one answer to `bans` lists (the newest): at most ~1.5 KB
 * each, so the frame stays within what clients read (ours: 1 MiB a line).
 */
export const MAX_LISTED_BANS = 500;

/** An answer now, or once the registry (or the other server) has it. */
export type ModerationAnswer = StatusFrame | Promise<StatusFrame>;

const OK: StatusFrame = { status: "ok" };

/**
 * The server's moderation; see the top of this file.
 *
 * @example
 * ```ts
 * import { AccessLists } from "./access.ts";
 * import { silentLogger } from "./log.ts";
 * import { LocalRegistry } from "./registry.ts";
 * const clock = () => new Date();
 * const moderation = new Moderation({
 *   registry: new LocalRegistry({ clock }), access: await AccessLists.load({ ops: [] }),
 *   logger: silentLogger, clock, features: ["identity", "ops"],
 * });
 * // new Hub({ …, moderation }) attaches it and asks it at every login.
 * ```
 */
export class Moderation {
  readonly #registry: Registry;
  readonly #access: AccessLists;
  readonly #logger: Logger;
  readonly #clock: () => Date;
  readonly #features: readonly Feature[];
  #host: ModerationHost | undefined;
  /** Operators waiting for a ban they ordered on another server to reach the registry. */
  readonly #banWaiters = new Set<{ by: string; heard: () => void }>();

  constructor(options: ModerationOptions) {
    this.#registry = options.registry;
    this.#access = options.access;
    this.#logger = options.logger;
    this.#clock = options.clock;
    this.#features = options.features;
  }

  /** Called once by the hub: from now on, every ban the registry hears cuts its target here. */
  attach(host: ModerationHost): void {
    this.#host = host;
    this.#registry.listen((change) => this.#changed(change));
  }

  /** Why `member` may not log in as nickname key `key`, or undefined when it may. */
  admit(member: Member, key: string): string | undefined {
    const ban = this.#banOf(member);
    if (ban !== undefined) {
      const until = ban.until === null ? "" : ` until ${formatWireTime(ban.until)}`;
      return `banned${until}${ban.reason === "" ? "" : `: ${ban.reason}`}`;
    }
    if (!this.#access.isInvited(member.identity)) return NOT_INVITED;
    const registered = this.#registry.lookup(key);
    if (registered !== undefined && registered.identity !== member.identity) {
      return NICKNAME_REGISTERED;
    }
    return undefined;
  }

  /** Runs a command of §12–§13 from a logged-in member. Never rejects. */
  run(member: Member, frame: OpsFrame): ModerationAnswer {
    const needs = frame.type === "register" || frame.type === "unregister" ? "identity" : "ops";
    if (!this.#features.includes(needs)) return error(`unknown command "${frame.type}"`);
    if (needs === "ops" && !this.#access.isOperator(member.identity)) {
      this.#log("not an operator", member, { command: frame.type });
      return error(NOT_AN_OPERATOR);
    }
    let answer: ModerationAnswer;
    switch (frame.type) {
      case "register":
      case "unregister":
        answer = this.#registration(member, frame.type);
        break;
      case "kick":
      case "ban":
        answer = this.#cut(member, frame.nickname, {
          how: frame.type,
          by: member.nickname ?? "",
          reason: frame.reason,
          minutes: frame.type === "ban" ? frame.minutes : 0,
        });
        break;
      case "unban":
        answer = this.#unban(member, frame.target);
        break;
      case "bans":
        answer = {
          status: "ok",
          bans: this.#registry.bans().slice(-MAX_LISTED_BANS).map((ban) => ({
            target: ban.target,
            until: ban.until === null ? null : formatWireTime(ban.until),
            reason: ban.reason,
            by: ban.by,
          })),
        };
        break;
    }
    return answer instanceof Promise ? answer.catch(() => error(STORAGE_UNAVAILABLE)) : answer;
  }

  /**
   * An order from another server for local member `id` (its member, if
   * still here): carried out as if given here.
   */
  ordered(member: Member | undefined, text: string): void {
    const order = decodeOrder(text);
    if (order === undefined || member?.nickname === undefined) return;
    if (order.how === "kick") {
      member.cut(cutReason(order), "kicked");
      return;
    }
    this.#ban(member, order).then(
      (target) =>
        this.#logger.log("ban", {
          by: order.by,
          from: "another server",
          whom: member.nickname,
          peer: member.peer,
          target,
          minutes: order.minutes,
          reason: order.reason,
        }),
      (error) =>
        this.#logger.log("warning", {
          reason: `a ban ordered by ${order.by} from another server failed: ${errorReason(error)}`,
        }),
    );
  }

  async #registration(member: Member, how: "register" | "unregister"): Promise<StatusFrame> {
    const nickname = member.nickname ?? "";
    const identity = member.identity;
    if (identity === undefined) {
      return error(how === "register" ? NEEDS_CERTIFICATE : NOT_REGISTERED);
    }
    const key = nicknameKey(nickname);
    const result = how === "register"
      ? await this.#registry.register(key, nickname, identity)
      : await this.#registry.unregister(key, identity);
    if (!result.ok) return error(result.reason);
    this.#log(how === "register" ? "registered" : "unregistered", member, {});
    return OK;
  }

  /** A kick or a ban of `nickname` by operator `op`. */
  async #cut(op: Member, nickname: string, order: CutOrder): Promise<StatusFrame> {
    const host = this.#host!;
    const checked = checkNickname(nickname);
    const key = checked.ok ? nicknameKey(checked.nickname) : undefined;
    const found = key === undefined ? undefined : host.local(key);
    const local = found?.nickname === undefined ? undefined : found;
    const fields = { whom: nickname, reason: order.reason };
    if (local !== undefined) {
      if (order.how === "kick") {
        this.#log("kick", op, fields);
        local.cut(cutReason(order), "kicked");
      } else {
        const target = await this.#ban(local, order);
        this.#log("ban", op, { ...fields, target, minutes: order.minutes });
      }
      return OK;
    }
    // Nobody here uses it; a ban of a registered nickname bans its identity.
    const registered = key === undefined ? undefined : this.#registry.lookup(key);
    if (order.how === "ban" && registered !== undefined) {
      await this.#registry.ban(registered.identity, this.#until(order), order.reason, order.by);
      this.#log("ban", op, { ...fields, target: registered.identity, minutes: order.minutes });
      return OK;
    }
    const present = key === undefined ? undefined : host.presence.get(key);
    const shared = host.shared;
    if (present === undefined || shared === undefined || present.server === shared.serverId) {
      return error(NO_SUCH_NICKNAME);
    }
    // On another server: that server cuts them (and, for a ban, bans whom it knows).
    const heard = order.how === "ban" ? this.#banHeard(order.by) : undefined;
    if (!await shared.order(present.server, present.member, encodeOrder(order))) {
      heard?.cancel();
      return error(NO_SUCH_NICKNAME);
    }
    // The ok once the ban is in the registry (so in Redis), within REMOTE_BAN_WAIT_MS.
    if (heard !== undefined) {
      await withDeadline(heard.done, REMOTE_BAN_WAIT_MS);
      heard.cancel();
    }
    this.#log(order.how, op, { ...fields, server: present.server, minutes: order.minutes });
    return OK;
  }

  /** Bans `member`'s identity, or its address without one; the registry's listeners cut. */
  async #ban(member: Member, order: CutOrder): Promise<string> {
    const target = member.identity ?? member.address;
    if (target === undefined) {
      member.cut(cutReason(order), "banned");
      return "";
    }
    await this.#registry.ban(target, this.#until(order), order.reason, order.by);
    return target;
  }

  async #unban(op: Member, typed: string): Promise<StatusFrame> {
    const target = parseFingerprint(typed) ?? typed;
    if (!await this.#registry.unban(target)) return error(NOT_BANNED);
    this.#log("unban", op, { target });
    return OK;
  }

  /** A registry change took effect (here or on another server): a ban cuts its target here. */
  #changed(change: RegistryChange): void {
    if (change.op !== "ban" || this.#host === undefined) return;
    for (const waiter of this.#banWaiters) if (waiter.by === change.by) waiter.heard();
    if (this.#registry.banned(change.target) === undefined) return; // Already over.
    const reason = cutReason({ how: "ban", by: change.by, reason: change.reason });
    const hit = [...this.#host.members()].filter((member) =>
      member.nickname !== undefined && targetOf(member) === change.target
    );
    for (const member of hit) member.cut(reason, "banned");
  }

  /** Resolves once a ban by operator `by` takes effect (one ordered from another server). */
  #banHeard(by: string): { done: Promise<void>; cancel(): void } {
    const { promise, resolve } = Promise.withResolvers<void>();
    const waiter = { by, heard: resolve };
    this.#banWaiters.add(waiter);
    const cancel = () => this.#banWaiters.delete(waiter);
    return { done: promise, cancel };
  }

  #banOf(member: Member): Ban | undefined {
    const target = targetOf(member);
    return target === undefined ? undefined : this.#registry.banned(target);
  }

  #until(order: CutOrder): Date | null {
    return order.minutes === 0 ? null : new Date(this.#clock().getTime() + order.minutes * 60_000);
  }

  /** One line: the event, who (nickname, identity, address), and the rest. */
  #log(event: string, who: Member, fields: Record<string, string | number | undefined>): void {
    this.#logger.log(event, {
      peer: who.peer,
      nick: who.nickname,
      identity: who.identity,
      ...fields,
    });
  }
}

/** What a ban is on for `member`: its identity, or its address without one. */
function targetOf(member: Member): string | undefined {
  return member.identity ?? member.address;
}

/** The error frame's reason for the one cut off: "kicked by OP: REASON". */
function cutReason(order: Pick<CutOrder, "how" | "by" | "reason">): string {
  const what = order.how === "kick" ? "kicked" : "banned";
  return `${what} by ${order.by}${order.reason === "" ? "" : `: ${order.reason}`}`;
}

function error(reason: string): StatusFrame {
  return { status: "error", reason };
}
