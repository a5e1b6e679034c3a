// Direct messages (PROTOCOL.md §11): a message for one person, found in the
// roster (presence.ts) under the same nickname key that makes nicknames
// unique, and only if that person asked for `direct`. It is never stored,
// never replayed and carries no seq: it goes to the recipient's outbox as an
// extra frame, or, with a shared chat, to the recipient's server (the shared
// chat publishes it there; nothing is kept on the way).
//
// A refusal never turns a direct message into a public one: whatever goes
// wrong, the sender gets an error, and nobody else sees a word.

import { checkNickname, nicknameKey } from "../nickname.ts";
import { type DirectMessage, encodeDirect } from "../protocol.ts";
import type { HubResult, Member } from "./hub.ts";
import type { Presence } from "./presence.ts";
import type { SharedChat } from "./shared_chat.ts";
import { type HistoryStore, STORAGE_UNAVAILABLE } from "./store.ts";

/** The reason when nobody by that name is logged in (anywhere in a shared chat). */
export const NOT_LOGGED_IN = "recipient is not logged in";
/** The reason when the recipient did not ask for direct messages. */
export const NO_DIRECT = "recipient does not accept direct messages";

/**
 * A direct message's fate: refused or on its way now, or (through a shared
 * chat) once the recipient's server has it.
 */
export type DirectResult = HubResult | { ok: "pending"; done: Promise<HubResult> };

/** What sending a direct message needs from the hub. */
export interface DirectRoutes {
  presence: Presence;
  /** Positions the message among the recipient's stored messages (its visibleSeq). */
  store: HistoryStore;
  shared?: SharedChat;
  /** The member logged in here under nickname key `key` with member id `id`, if any. */
  local(key: string, id: number): Member | undefined;
}

const encoder = new TextEncoder();

/**
 * Sends `message` (its `to` as the sender wrote it) to its recipient, or
 * says why not. The recipient gets `to` as it logged in.
 */
export function sendDirect(routes: DirectRoutes, message: DirectMessage): DirectResult {
  const checked = checkNickname(message.to);
  const key = checked.ok ? nicknameKey(checked.nickname) : undefined;
  const present = key === undefined ? undefined : routes.presence.get(key);
  if (key === undefined || present === undefined) return { ok: false, reason: NOT_LOGGED_IN };
  if (!present.direct) return { ok: false, reason: NO_DIRECT };
  const line = encodeDirect({ ...message, to: present.nickname });
  const shared = routes.shared;
  if (shared === undefined || present.server === shared.serverId) {
    const member = routes.local(key, present.member);
    if (member === undefined || !deliverDirect(member, encoder.encode(line), routes.store)) {
      return { ok: false, reason: NOT_LOGGED_IN };
    }
    return { ok: true };
  }
  const done = shared.direct(present.server, present.member, line).then(
    (sent): HubResult => sent ? { ok: true } : { ok: false, reason: NOT_LOGGED_IN },
    (): HubResult => ({ ok: false, reason: STORAGE_UNAVAILABLE }),
  );
  return { ok: "pending", done };
}

/**
 * Queues a direct message's wire bytes for `member`, after the stored
 * messages it may be sent now. False when its outbox cannot take them: it
 * is over its limit (and is cut off here) or closing.
 */
export function deliverDirect(member: Member, bytes: Uint8Array, store: HistoryStore): boolean {
  if (member.outbox.extra(bytes, store.visibleSeq)) return true;
  if (member.outbox.failure !== undefined) member.kick(member.outbox.failure);
  return false;
}
