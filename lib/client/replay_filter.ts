// Which received messages to show after a reconnect, and which of our own
// messages the server's replay shows to have arrived.
//
// After a reconnect the login asks for a replay `since` the last seq seen,
// so a server that numbers its messages repeats nothing; one that ignores
// `since`, or one without `seq`, repeats what was shown: those repeats are
// recognised by a fingerprint of sender, time and text, and skipped. Our own
// messages come back in the replay too: they were shown when typed, so they
// are not shown again.
//
// A server's numbers can go back: a memory-only server restarts at 1, and a
// durable one may lose the messages it had relayed but not yet written. A
// seq is therefore never a reason on its own to skip a message: one at or
// below the highest seen is a repeat only if its fingerprint says so, and
// `since` follows the server's numbering as it is now (the last seq
// received), so the next replay starts where this server's numbers are,
// not where a previous life of it had got to.
//
// Some of our own messages were in doubt when the connection dropped:
// written, never acked. The replay decides whether each arrived (and is not
// resent) or not (and is resent once the replay is over).
//
// Texts repeat ("ok", "yes"), so a replayed text does not say which of our
// messages it is. The rule counts copies, per text:
// - The replay (since = the last seq seen) holds our stored messages newer
//   than that seq: some the server confirmed, and perhaps some in doubt
//   (stored, but the ack was lost with the connection).
// - Each replayed copy is first taken by a confirmed message with that
//   text that may be in the replay, and only then by one in doubt, oldest
//   first, each message at most once. So of the messages in doubt with a
//   text, at most (copies replayed - confirmed ones that may be replayed)
//   count as delivered: never more than really arrived.
// - Only replayed messages newer than the last seq seen before the drop
//   can be ones in doubt (a server that ignores `since` repeats older ones).
// A confirmed message counts as "may be replayed" unless it is proved older
// than that seq; an unproved one can only make us resend a message that
// did arrive (a duplicate), never drop one. The proof is in the seqs we
// skip: the server relays every stored message except our own, so each
// number missing on this connection is one of our messages, and ours are
// stored in the order we sent them (#noteSeq). If the record of our sent
// messages overflowed, messages in doubt are simply resent.
//
// Nothing here has a clock or a connection: the sending side (delivery.ts)
// feeds it what happened (connected, logged in, a message, sent, acked,
// dropped, replay over) and acts on the verdicts.

import { nicknameKey } from "../nickname.ts";
import type { ChatMessage } from "../protocol.ts";

/** Own messages remembered (as fingerprints) to recognise them in a replay; beyond it a resend may repeat one. */
export const SENT_LOG_LIMIT = 5000;
/** Messages remembered (as hashes) to skip them when a replay repeats them. */
export const SEEN_LIMIT = 5000;

/** One of our messages as the filter sees it (the outgoing queue's entry). */
export interface OwnMessage {
  readonly text: string;
  /** It was in flight when the connection dropped: resent unless the replay shows it. */
  readonly inDoubt: boolean;
}

/** What to do with a received message. */
export interface ReplayVerdict<T> {
  /** Show it; false for a repeat and for our own message coming back. */
  show: boolean;
  /** The server's numbers went back, and this message is new: worth a notice (once a connection). */
  restarted: boolean;
  /** Our message in doubt that the replay shows arrived: delivered, not to be resent. */
  arrived?: T;
}

/** One own message written to the server, kept to recognise it in a later replay. */
interface SentRecord<T> {
  /** Fingerprint of the text. */
  key: string;
  /** The connection it was written on. */
  conn: number;
  /** Its place among the messages written on that connection (0-based). */
  index: number;
  /** The message while the server may still refuse it; undefined once stored (or taken as stored). */
  item?: T;
}

/**
 * The replay filter of one session. `T` is the outgoing queue's entry; the
 * filter only reads its text and whether it is in doubt.
 *
 * @example
 * ```ts
 * const filter = new ReplayFilter<{ text: string; inDoubt: boolean }>();
 * filter.connected();
 * const hi = { from: "alice", message: "hi", time: "2017-01-12T20:00:00Z", seq: 1 };
 * filter.accept(hi, "bob"); // { show: true, restarted: false }
 * filter.accept(hi, "bob"); // { show: false, restarted: false }: a repeat
 * ```
 */
export class ReplayFilter<T extends OwnMessage> {
  #seen = new Set<string>();
  #seenOrder: string[] = [];
  /** After reconnecting to a server without `seq`: skip the replay's already-shown prefix. */
  #skipping = false;
  /** The last seq received: the next login's `since`. */
  #lastSeq: number | undefined;
  /** The highest seq ever received: a message numbered up to it may be a repeat. */
  #highestSeq: number | undefined;
  /** The numbers went back on this connection and a notice said so. */
  #restartSaid = false;
  #numbered = false;
  /** Our nickname and its key, computed once per nickname (it is compared on every message). */
  #own = { nickname: "", key: "" };

  /** Counts connections; the current one's number. */
  #conn = 0;
  #sentLog: SentRecord<T>[] = [];
  /** Each message's latest record, to update it when the server answers. */
  #latest = new WeakMap<T, SentRecord<T>>();
  /** Records of connections up to this one were dropped for room: their matches are unsure. */
  #trimmedConn = -1;
  /** The last seq seen before the connection dropped: only newer replayed messages can be ours in doubt. */
  #floor: number | undefined;
  /** On this connection: messages written, the last seq received, seqs skipped. */
  #connSent = 0;
  #connSeq: number | undefined;
  #connGaps = 0;

  /** The last seq seen: the login's `since`. */
  get lastSeq(): number | undefined {
    return this.#lastSeq;
  }

  /** True once the server numbered a message (`seq`). */
  get numbered(): boolean {
    return this.#numbered;
  }

  /** A new connection is open (before its login). */
  connected(): void {
    this.#conn++;
    this.#connSent = 0;
    this.#connSeq = undefined;
    this.#connGaps = 0;
    this.#restartSaid = false;
  }

  /**
   * The login succeeded. True when, reconnected to a server without `seq`
   * after showing messages, the replay's prefix of messages already shown
   * will be skipped (worth a notice).
   */
  loggedIn(first: boolean): boolean {
    if (first || this.#numbered || this.#seen.size === 0) return false;
    this.#skipping = true;
    return true;
  }

  /** Decides on a received message; `nickname` is ours, to recognise our own. */
  accept(message: ChatMessage, nickname: string): ReplayVerdict<T> {
    const key = messageKey(message);
    const own = nicknameKey(message.from) === this.#ownKey(nickname);
    let restarted = false;
    if (message.seq !== undefined) {
      this.#numbered = true;
      this.#noteSeq(message.seq);
      const maybeRepeat = this.#highestSeq !== undefined && message.seq <= this.#highestSeq;
      this.#lastSeq = message.seq;
      this.#highestSeq = Math.max(this.#highestSeq ?? 0, message.seq);
      if (maybeRepeat) {
        // A replay that ignored `since`: what we showed, and our own (shown when sent).
        if (this.#seen.has(key) || own) return { show: false, restarted };
        // New, though numbered as if old: the server's numbers went back.
        restarted = !this.#restartSaid;
        this.#restartSaid = true;
      }
      const record = own ? this.#matchOwnReplay(message) : undefined;
      if (record) return { show: false, restarted, arrived: record.item };
    } else if (this.#skipping) {
      if (this.#seen.has(key) || own) return { show: false, restarted };
      this.#skipping = false;
    }
    this.#remember(key);
    return { show: true, restarted };
  }

  /** One of our messages was written on the current connection. */
  sent(item: T): void {
    const record: SentRecord<T> = {
      key: textKey(item.text),
      conn: this.#conn,
      index: this.#connSent++,
      item,
    };
    this.#latest.set(item, record);
    this.#sentLog.push(record);
    if (this.#sentLog.length > SENT_LOG_LIMIT) {
      const dropped = this.#sentLog.shift()!;
      this.#trimmedConn = Math.max(this.#trimmedConn, dropped.conn);
    }
  }

  /** The server stored the message (it acked it): a copy in a replay may be this one. */
  confirmed(item: T): void {
    const record = this.#latest.get(item);
    this.#latest.delete(item);
    if (!record) return;
    record.item = undefined;
    if (this.#provedOld(record)) this.#forget(record);
  }

  /** The server did not store the message (refused, or to be resent): no copy can be it. */
  withdrawn(item: T): void {
    const record = this.#latest.get(item);
    this.#latest.delete(item);
    if (record) this.#forget(record);
  }

  /**
   * The connection dropped. Call after the outgoing queue marked what is in
   * doubt: every other message written counts as stored.
   */
  connectionLost(): void {
    this.#floor = this.#lastSeq;
    for (const record of this.#sentLog) {
      if (record.item && !record.item.inDoubt) record.item = undefined;
    }
  }

  /**
   * The login's replay is over: own messages of earlier connections that it
   * did not show are older than `since`, so no later replay can show them.
   */
  replayOver(): void {
    this.#sentLog = this.#sentLog.filter((r) => r.conn === this.#conn);
  }

  /** The record a replayed own message stands for (see the rule above), taken out; undefined for none. */
  #matchOwnReplay(message: ChatMessage): SentRecord<T> | undefined {
    const key = textKey(message.message);
    const candidates = this.#sentLog.filter((r) => r.conn < this.#conn && r.key === key);
    let record = candidates.find((r) => r.item === undefined);
    const newer = this.#floor === undefined || message.seq! > this.#floor;
    if (!record && newer) {
      record = candidates.find((r) => r.item?.inDoubt === true && r.conn > this.#trimmedConn);
    }
    if (record) this.#forget(record);
    return record;
  }

  #ownKey(nickname: string): string {
    if (this.#own.nickname !== nickname) this.#own = { nickname, key: nicknameKey(nickname) };
    return this.#own.key;
  }

  /** Notes a seq received on this connection; the numbers it skipped are our own messages. */
  #noteSeq(seq: number): void {
    const previous = this.#connSeq;
    this.#connSeq = seq;
    if (previous === undefined || seq <= previous + 1) return;
    // Never more than we sent, should a server skip numbers for another reason.
    this.#connGaps = Math.min(this.#connGaps + seq - previous - 1, this.#connSent);
    // Our first #connGaps stored messages on this connection are older than `seq`.
    this.#sentLog = this.#sentLog.filter((r) => !this.#provedOld(r));
  }

  #provedOld(record: SentRecord<T>): boolean {
    return record.conn === this.#conn && record.item === undefined &&
      record.index < this.#connGaps;
  }

  /** Drops a record of a sent message (if it is still kept). */
  #forget(record: SentRecord<T>): void {
    const index = this.#sentLog.indexOf(record);
    if (index !== -1) this.#sentLog.splice(index, 1);
  }

  #remember(key: string): void {
    if (this.#seen.has(key)) return;
    this.#seen.add(key);
    this.#seenOrder.push(key);
    if (this.#seenOrder.length > SEEN_LIMIT) this.#seen.delete(this.#seenOrder.shift()!);
  }
}

/** A compact fingerprint of a message (two FNV-1a hashes), so the memory holds no texts. */
function messageKey(message: ChatMessage): string {
  return textKey(`${message.from}\u0000${message.time}\u0000${message.message}`);
}

/** Two FNV-1a hashes and the length of `text`. */
function textKey(text: string): string {
  let a = 0x811c9dc5;
  let b = 0x01000193;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    a = Math.imul(a ^ c, 0x01000193) >>> 0;
    b = Math.imul(b ^ c, 0x5bd1e995) >>> 0;
  }
  return `${a.toString(36)}.${b.toString(36)}.${text.length}`;
}
