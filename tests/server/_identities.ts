// Client identities for the tests of §12–§13 (real certificates, made
// with lib/self_signed.ts) and the few moves those tests repeat: a login
// attempt with or without a certificate, a command and its answer, and
// what a connection gets before the server closes it.

import assert from "node:assert/strict";
import { fingerprintOf } from "../../lib/cert_pair.ts";
import { generateSelfSigned } from "../../lib/self_signed.ts";
import { type Frame, type Target, TestClient } from "./_helpers.ts";

/** A client identity: a certificate and key, and its fingerprint. */
export interface Identity {
  certPem: string;
  keyPem: string;
  fingerprint: string;
}

/** A fresh client identity: a self-signed certificate for a day. */
export async function identity(name: string): Promise<Identity> {
  const now = Date.now();
  const pair = await generateSelfSigned({
    commonName: name,
    usage: "client",
    notBefore: new Date(now - 60_000),
    notAfter: new Date(now + 86_400_000),
  });
  return { ...pair, fingerprint: fingerprintOf(pair.certPem) };
}

/** Connects (with `who`'s certificate, if any) and sends a login asking for `features`. */
export async function attempt(
  target: Target,
  nickname: string,
  who?: Identity,
  features?: string[],
): Promise<{ client: TestClient; answer: Frame }> {
  const client = await TestClient.connect(target, who);
  await client.send({ command: "login", nickname, ...features ? { features } : {} });
  return { client, answer: await client.next() };
}

/** Logs in or throws; the client after its ok. */
export async function login(
  target: Target,
  nickname: string,
  who?: Identity,
  features?: string[],
): Promise<TestClient> {
  const { client, answer } = await attempt(target, nickname, who, features);
  if (answer.status !== "ok") {
    await client.close();
    throw new Error(`login as ${nickname}: ${JSON.stringify(answer)}`);
  }
  return client;
}

/** Sends a command and returns the answer. */
export async function command(client: TestClient, frame: Frame): Promise<Frame> {
  await client.send(frame);
  return await client.next();
}

/** The frames until the connection ends (fails if it does not within 5 s). */
export async function untilClosed(client: TestClient): Promise<Frame[]> {
  const frames: Frame[] = [];
  for (;;) {
    try {
      frames.push(await client.next());
    } catch {
      assert.ok(client.closed, `still open after ${JSON.stringify(frames)}`);
      return frames;
    }
  }
}
