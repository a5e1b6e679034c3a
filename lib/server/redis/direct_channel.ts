// Direct messages between servers (PROTOCOL.md §11): each server listens on
// its own pub/sub channel (`chat:direct:<server id>`), and a direct message
// for a member of another server is published there, as "<member id> <wire
// line>". PUBLISH answers how many listeners got it: one means it is on its
// way (the sender's ack), none that the recipient's server is gone (the
// sender's error). Pub/sub keeps nothing: a direct message is never stored.
// The same channel carries an operator's order to cut one of its members
// off (§13: a kick, or a ban of someone only that server knows the
// identity of), as "<member id> !<order>" (cut_order.ts): a wire line
// always starts with "{", so the two never mix.

import type { RedisClient } from "./client.ts";
import { integerReply } from "./client.ts";
import { DIRECT_PREFIX } from "./scripts.ts";
import { answerWithin } from "./watchdog.ts";

/** What starts an order rather than a wire line. */
const ORDER_MARK = "!";

/** Options of {@linkcode DirectChannel}. */
export interface DirectChannelOptions {
  /** The connection commands go over now. */
  client: () => RedisClient;
  serverId: string;
  /** A direct message arrived for local member `member`: its wire line. */
  arrived: (member: number, line: string) => void;
  /** An order arrived for local member `member` (cut_order.ts). */
  ordered: (member: number, order: string) => void;
  /** Redis did not answer in time (watchdog.ts). */
  hung: (why: string) => void;
}

/** This server's direct message channel, and the way to the others'; see the top of this file. */
export class DirectChannel {
  readonly #options: DirectChannelOptions;

  constructor(options: DirectChannelOptions) {
    this.#options = options;
  }

  /** Listens on this server's channel over `subscriber` (a connection given to pub/sub). */
  async listen(subscriber: RedisClient): Promise<void> {
    await subscriber.subscribe(DIRECT_PREFIX + this.#options.serverId, (message) => {
      const space = message.indexOf(" ");
      const member = integerReply(message.slice(0, space));
      const line = message.slice(space + 1);
      if (space >= 0 && member !== undefined && line.startsWith(ORDER_MARK)) {
        this.#options.ordered(member, line.slice(ORDER_MARK.length));
        return;
      }
      // One wire line, as a server of ours encoded it; anything else is dropped.
      if (space < 0 || member === undefined || line.indexOf("\n") !== line.length - 1) return;
      this.#options.arrived(member, line);
    });
  }

  /**
   * Publishes `line` for member `member` of server `server`: true once on
   * its way, false when that server does not listen.
   */
  send(server: string, member: number, line: string): Promise<boolean> {
    return this.#publish(server, `${member} ${line}`);
  }

  /** Publishes an order for member `member` of server `server`: true once on its way. */
  order(server: string, member: number, order: string): Promise<boolean> {
    return this.#publish(server, `${member} ${ORDER_MARK}${order}`);
  }

  async #publish(server: string, message: string): Promise<boolean> {
    const hang = () => this.#options.hung("no answer to PUBLISH");
    const listeners = await answerWithin(
      this.#options.client().publish(DIRECT_PREFIX + server, message),
      0,
      hang,
    );
    return (integerReply(listeners) ?? 0) > 0;
  }
}
