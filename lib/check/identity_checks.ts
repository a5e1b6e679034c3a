// The checks of `chat check` for identity (§12) and operators (§13) that
// need no operator rights. Informational, like the other extensions: pass,
// fail (WARN) or skip when the server does not list the feature (or admits
// only invited identities); never the exit code.
//
// Each identity is a throwaway: a fresh self-signed client certificate made
// for the check (lib/self_signed.ts, loaded only when these checks run).
// A nickname the check registers is unregistered before it ends, whatever
// happened, so the server is left as it was found.

import { encodeCommand, type StatusFrame } from "../protocol.ts";
import type { PemPair } from "../self_signed.ts";
import { sleep } from "../deadline.ts";
import {
  type Check,
  CheckFailure,
  CheckSkip,
  type Client,
  type Probe,
  reasonOf,
  show,
} from "./probe.ts";

/** §12's refusal of a registered nickname, word for word. */
const REGISTERED = "nickname is registered";
/** How often a login is tried again while the server has not yet let a closed connection go. */
const RETRY_MS = 100;

/** A fresh self-signed client certificate, for one check. */
async function throwaway(p: Probe): Promise<PemPair> {
  const { generateSelfSigned } = await import("../self_signed.ts");
  const now = Date.now();
  return await generateSelfSigned({
    commonName: `chat check ${p.runId}`,
    usage: "client",
    notBefore: new Date(now - 3_600_000),
    notAfter: new Date(now + 86_400_000),
  });
}

/** Logs in as `nick` with `identity` (or none), asking for every feature; the answer. */
async function loginWith(
  p: Probe,
  nick: string,
  identity: PemPair | undefined,
): Promise<{ client: Client; answer: StatusFrame }> {
  const conn = await p.connect(identity);
  const answer = await p.loginAnswer(conn, nick, { features: ["identity", "ops"] });
  return { client: { conn, nick }, answer };
}

/** A login that must work and list `feature`; skips the check when the server cannot be checked. */
async function featuredLogin(
  p: Probe,
  identity: PemPair,
  feature: "identity" | "ops",
  nick = p.nick(),
): Promise<Client> {
  const { client, answer } = await loginWith(p, nick, identity);
  if (answer.status !== "ok") {
    if (answer.reason === "not invited") {
      throw new CheckSkip(
        "the server admits only invited identities: a throwaway one cannot log in",
      );
    }
    throw new CheckFailure(
      `the login as ${nick} with a fresh identity was refused${reasonOf(answer)}`,
    );
  }
  if (!answer.features?.includes(feature)) {
    throw new CheckSkip(`${feature} (§${feature === "identity" ? 12 : 13}) not offered`);
  }
  return client;
}

/**
 * The answer to a login as `nick` with `identity` once the server has let
 * the nickname's last connection go: while it answers that the nickname is
 * in use, it is asked again (a closed connection is noticed a moment later).
 */
async function settledLogin(
  p: Probe,
  nick: string,
  identity: PemPair | undefined,
  expectRefusal: boolean,
): Promise<{ client: Client; answer: StatusFrame }> {
  const deadline = Date.now() + p.timeoutMs;
  while (true) {
    const tried = await loginWith(p, nick, identity);
    const { answer } = tried;
    const settled = answer.status === "ok" || answer.reason === REGISTERED || !expectRefusal;
    if (settled || Date.now() >= deadline) return tried;
    await p.close(tried.client.conn);
    await sleep(RETRY_MS);
  }
}

/** Sends a command of §12–§13 and returns its answer. */
async function command(
  p: Probe,
  client: Client,
  name: string,
  fields: Record<string, string | number> = {},
): Promise<StatusFrame> {
  await client.conn.write(encodeCommand(name, fields));
  return await p.status(client.conn, `{"command":"${name}"}`);
}

/**
 * §12: a nickname registered with identity A is refused to identity B and
 * to a client without one ("nickname is registered"); A may still log in
 * with it; unregistered, it is free for B. Informational.
 */
export const extRegister: Check = {
  name: "ext register",
  kind: "extension",
  async run(p) {
    const a = await throwaway(p);
    const b = await throwaway(p);
    const owner = await featuredLogin(p, a, "identity");
    const nick = owner.nick;
    const registered = await command(p, owner, "register");
    if (registered.status !== "ok") {
      throw new CheckFailure(
        `{"command":"register"} with a certificate was refused${reasonOf(registered)}`,
      );
    }
    let done = false;
    try {
      await p.close(owner.conn);
      for (
        const [who, identity] of [["another identity", b], [
          "a client without one",
          undefined,
        ]] as const
      ) {
        const { client, answer } = await settledLogin(p, nick, identity, true);
        await p.close(client.conn);
        if (answer.status === "ok") {
          throw new CheckFailure(`${who} logged in as ${nick}, registered to a throwaway identity`);
        }
        if (answer.reason !== REGISTERED) {
          throw new CheckFailure(
            `${who} was refused ${nick} with ${
              answer.reason === undefined ? "no reason" : show(answer.reason)
            }, not "${REGISTERED}"`,
          );
        }
      }
      const back = await settledLogin(p, nick, a, false);
      if (back.answer.status !== "ok") {
        throw new CheckFailure(
          `the identity that registered ${nick} was refused it${reasonOf(back.answer)}`,
        );
      }
      const unregistered = await command(p, back.client, "unregister");
      if (unregistered.status !== "ok") {
        throw new CheckFailure(`{"command":"unregister"} was refused${reasonOf(unregistered)}`);
      }
      done = true;
      await p.close(back.client.conn);
      const free = await settledLogin(p, nick, b, true);
      if (free.answer.status !== "ok") {
        throw new CheckFailure(
          `after unregister, ${nick} was still refused${reasonOf(free.answer)}`,
        );
      }
    } finally {
      if (!done) await unregisterQuietly(p, nick, a);
    }
    return `${nick}, registered, was refused to another identity and to none ("${REGISTERED}"); unregistered, it was free`;
  },
};

/** Leaves the server as it was: logs in as `nick` with `identity` and unregisters, come what may. */
async function unregisterQuietly(p: Probe, nick: string, identity: PemPair): Promise<void> {
  try {
    await p.closeAll();
    const { client, answer } = await settledLogin(p, nick, identity, false);
    if (answer.status === "ok") await command(p, client, "unregister");
  } catch {
    // The check's own verdict is what counts.
  }
}

/** §13: kick, ban, unban and bans from a client that is not an operator are refused. Informational. */
export const extOpsRefused: Check = {
  name: "ext ops refused",
  kind: "extension",
  async run(p) {
    const nobody = await featuredLogin(p, await throwaway(p), "ops");
    const other = await p.login();
    const asked: [string, Record<string, string | number>][] = [
      ["kick", { nickname: other.nick, reason: p.marker("kick") }],
      ["ban", { nickname: other.nick, reason: p.marker("ban"), minutes: 1 }],
      ["unban", { target: "192.0.2.1" }],
      ["bans", {}],
    ];
    for (const [name, fields] of asked) {
      const answer = await command(p, nobody, name, fields);
      if (answer.status === "ok") {
        throw new CheckFailure(`{"command":"${name}"} from a throwaway identity was accepted`);
      }
    }
    const fence = p.marker("still here");
    await p.send(other, fence);
    await p.receive(nobody, fence, `a message of ${other.nick}, not kicked`);
    return `kick, ban, unban and bans from ${nobody.nick} (no operator) were each refused`;
  },
};
